import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIp } from "../../../src/decode/address.js";
import { PacketFacts } from "../../../src/decode/packet.js";
import { ProbeSieve, replyMeansListening } from "../../../src/detect/probe-rules.js";
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
