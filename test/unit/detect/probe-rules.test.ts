import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIp } from "../../../src/decode/address.js";
import { PacketFacts } from "../../../src/decode/packet.js";
import { OwnFlows } from "../../../src/detect/own-flows.js";
import { ackProbeStands, ProbeSieve, replyMeansListening } from "../../../src/detect/probe-rules.js";
import { emptyPorts } from "../../../src/port-set.js";

const US = "198.51.100.20";
const PROBER = "192.0.2.10";

function facts(src: string, dst: string, protocol: 6 | 17, o: Partial<PacketFacts> = {}): PacketFacts {
  const f = new PacketFacts();
  const s = parseIp(src);
  const d = parseIp(dst);
  assert.ok(s && d);
  f.family = s.family;
  f.src.set(s.bytes);
  f.dst.set(d.bytes);
  const v4 = (b: Uint8Array) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  f.srcV4 = v4(s.bytes);
  f.dstV4 = v4(d.bytes);
  f.protocol = protocol;
  Object.assign(f, o);
  return f;
}

const watched = emptyPorts();
watched[161] = 1;
watched[23] = 1;
const sieve = new ProbeSieve({
  tcp: watched,
  udp: watched,
  ownAddresses: [US],
  checkDestination: false,
  ackScans: false,
  flows: undefined,
});

test("this host's answers are replies: RST and ICMP port unreachable say closed, SYN+ACK listening", () => {
  const rst = facts(US, PROBER, 6, { srcPort: 23, dstPort: 40000, tcpFlags: 0x14 });
  const synAck = facts(US, PROBER, 6, { srcPort: 23, dstPort: 40000, tcpFlags: 0x12 });
  const unreachable = facts(US, PROBER, 17, { srcPort: 161, dstPort: 40000, icmpUnreachable: true });
  assert.equal(sieve.sift(rst, 0), "reply");
  assert.equal(sieve.sift(synAck, 0), "reply");
  assert.equal(sieve.sift(unreachable, 0), "reply");
  assert.equal(replyMeansListening(rst), false);
  assert.equal(replyMeansListening(synAck), true);
  assert.equal(replyMeansListening(unreachable), false);
});

test("an ICMP port unreachable from another host is never a probe; a UDP datagram from us is no reply", () => {
  const forged = facts(PROBER, US, 17, { srcPort: 40000, dstPort: 161, icmpUnreachable: true });
  assert.equal(sieve.sift(forged, 0), "not-probe");
  const probe = facts(PROBER, US, 17, { srcPort: 40000, dstPort: 161 });
  assert.equal(sieve.sift(probe, 0), "probe");
  const datagramFromUs = facts(US, PROBER, 17, { srcPort: 161, dstPort: 40000 });
  assert.equal(sieve.sift(datagramFromUs, 0), "own-source");
});

test("our datagram and our SYN start flows whose packets are own-flow, not probes; our answers do not", () => {
  const flows = new OwnFlows({ capacity: 64, udpIdleMs: 180_000, tcpIdleMs: 7_200_000 });
  const s = new ProbeSieve({
    tcp: watched,
    udp: watched,
    ownAddresses: [US],
    checkDestination: false,
    ackScans: true,
    flows,
  });
  assert.equal(s.sift(facts(US, PROBER, 17, { srcPort: 161, dstPort: 123 }), 0), "own-source");
  assert.equal(s.sift(facts(PROBER, US, 17, { srcPort: 123, dstPort: 161 }), 10), "own-flow");
  assert.equal(s.sift(facts(PROBER, US, 17, { srcPort: 124, dstPort: 161 }), 10), "probe");
  assert.equal(s.sift(facts(US, PROBER, 6, { srcPort: 23, dstPort: 22, tcpFlags: 0x02 }), 0), "own-source");
  assert.equal(s.sift(facts(PROBER, US, 6, { srcPort: 22, dstPort: 23, tcpFlags: 0x12 }), 5), "own-flow");
  // Our RST to a prober starts nothing: the prober's next packet from that port is still a probe.
  assert.equal(s.sift(facts(US, PROBER, 6, { srcPort: 23, dstPort: 40001, tcpFlags: 0x14 }), 0), "reply");
  assert.equal(s.sift(facts(PROBER, US, 6, { srcPort: 40001, dstPort: 23, tcpFlags: 0x10 }), 1), "probe");
});

test("DETECT_ACK_SCANS: ACK-bearing packets are candidates, RST never; ackProbeStands wants the RST", () => {
  const ack = facts(PROBER, US, 6, { srcPort: 40000, dstPort: 23, tcpFlags: 0x10 });
  const rst = facts(PROBER, US, 6, { srcPort: 40000, dstPort: 23, tcpFlags: 0x04 });
  assert.equal(sieve.sift(ack, 0), "not-probe", "key off: today's rule");
  const on = new ProbeSieve({
    tcp: watched,
    udp: watched,
    ownAddresses: [US],
    checkDestination: false,
    ackScans: true,
    flows: undefined,
  });
  assert.equal(on.sift(ack, 0), "probe");
  assert.equal(on.sift(rst, 0), "not-probe");
  assert.equal(ackProbeStands(6, 0x10, true), true);
  assert.equal(ackProbeStands(6, 0x11, false), false);
  assert.equal(ackProbeStands(6, 0x02, false), true, "a SYN stands unanswered");
  assert.equal(ackProbeStands(17, 0, false), true);
});
