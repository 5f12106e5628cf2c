import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeFrame, LinkType, PacketFacts } from "../../../src/decode/packet.js";
import { OwnFlows } from "../../../src/detect/own-flows.js";
import { ipPacket, type PacketSpec } from "../../helpers/pcap-builder.js";

const US = "192.0.2.1";
const PEER = "198.51.100.53";
const LIMITS = { capacity: 16, udpIdleMs: 180_000, tcpIdleMs: 7_200_000 };

function facts(p: PacketSpec): PacketFacts {
  const f = new PacketFacts();
  assert.equal(decodeFrame(ipPacket(p), LinkType.RAW, f), "ok");
  return f;
}

test("a datagram back on a flow we started is a reply within the idle time, not after", () => {
  const flows = new OwnFlows(LIMITS);
  flows.noteOutgoing(facts({ src: US, dst: PEER, proto: "udp", sport: 123, dport: 123 }), 0);
  const back = facts({ src: PEER, dst: US, proto: "udp", sport: 123, dport: 123 });
  assert.equal(flows.isReply(back, 5), true);
  assert.equal(flows.isReply(back, 180_000), true);
  assert.equal(flows.isReply(back, 180_001), false);
});

test("the whole key counts: another port, address or protocol is no reply", () => {
  const flows = new OwnFlows(LIMITS);
  flows.noteOutgoing(facts({ src: US, dst: PEER, proto: "udp", sport: 900, dport: 53 }), 0);
  assert.equal(flows.isReply(facts({ src: PEER, dst: US, proto: "udp", sport: 53, dport: 900 }), 1), true);
  assert.equal(flows.isReply(facts({ src: PEER, dst: US, proto: "udp", sport: 54, dport: 900 }), 1), false);
  assert.equal(flows.isReply(facts({ src: PEER, dst: US, proto: "udp", sport: 53, dport: 901 }), 1), false);
  assert.equal(
    flows.isReply(facts({ src: "198.51.100.54", dst: US, proto: "udp", sport: 53, dport: 900 }), 1),
    false,
  );
  assert.equal(flows.isReply(facts({ src: PEER, dst: US, proto: "tcp", sport: 53, dport: 900 }), 1), false);
});

test("TCP flows keep their own, longer idle time; IPv6 works alike", () => {
  const flows = new OwnFlows(LIMITS);
  flows.noteOutgoing(
    facts({ src: "2001:db8::1", dst: "2001:db8::53", proto: "tcp", sport: 700, dport: 22 }),
    0,
  );
  const back = facts({
    src: "2001:db8::53",
    dst: "2001:db8::1",
    proto: "tcp",
    sport: 22,
    dport: 700,
    flags: 0x11,
  });
  assert.equal(flows.isReply(back, 3_600_000), true);
  assert.equal(flows.isReply(back, 7_200_001), false);
});

test("bounded: past the cap the least recently seen goes, counted; size never passes the table", () => {
  const flows = new OwnFlows(LIMITS);
  for (let i = 0; i < 1000; i++) {
    flows.noteOutgoing(facts({ src: US, dst: PEER, proto: "udp", sport: 1 + (i % 1000), dport: 53 }), i);
  }
  assert.ok(flows.size <= 16, `size ${flows.size}`);
  assert.ok(flows.evicted >= 1000 - 16, `evicted ${flows.evicted}`);
  // The newest is still there.
  assert.equal(
    flows.isReply(facts({ src: PEER, dst: US, proto: "udp", sport: 53, dport: 1000 }), 1000),
    true,
  );
  assert.equal(flows.bytes, 16 * 30);
});
