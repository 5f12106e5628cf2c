import assert from "node:assert/strict";
import { test } from "node:test";
import { FragmentHeads } from "../../../src/decode/fragments.js";
import { decodeFrame, LinkType, PacketFacts } from "../../../src/decode/packet.js";
import { FIN, fragmentPackets, SYN } from "../../helpers/pcap-builder.js";

const LIMITS = { capacity: 16, timeoutMs: 30_000 };

/** Feeds fragments in order; returns the facts when a header completes, with the index. */
function feed(
  heads: FragmentHeads,
  parts: readonly Uint8Array[],
  nowMs = 0,
): { at: number; f: PacketFacts } | undefined {
  for (const [i, ip] of parts.entries()) {
    const f = new PacketFacts();
    const status = decodeFrame(ip, LinkType.RAW, f);
    if (status === "ok") return { at: i, f };
    assert.ok(status === "fragment" || status === "tiny-fragment", status);
    if (heads.add(ip, f, nowMs)) return { at: i, f };
  }
  return undefined;
}

for (const [name, src, dst] of [
  ["IPv4", "198.51.100.7", "192.0.2.1"],
  ["IPv6", "2001:db8:5::7", "2001:db8::1"],
] as const) {
  test(`${name}: 8-byte fragments (nmap -f, --mtu 8) give the port and the flags, never port 0`, () => {
    const heads = new FragmentHeads(LIMITS);
    const r = feed(
      heads,
      fragmentPackets({ src, dst, proto: "tcp", sport: 40000, dport: 143, flags: FIN }, 8),
    );
    assert.ok(r);
    assert.equal(r.at, 1, "complete with the fragment that holds the flags");
    assert.equal(r.f.dstPort, 143);
    assert.equal(r.f.srcPort, 40000);
    assert.equal(r.f.tcpFlags, FIN);
    assert.equal(r.f.protocol, 6);
    assert.equal(r.f.firstFragment, true);
    assert.equal(heads.completed, 1);
  });

  test(`${name}: 16-byte fragments (-ff) complete on the first; out of order too`, () => {
    const heads = new FragmentHeads(LIMITS);
    const parts = fragmentPackets({ src, dst, proto: "tcp", sport: 40000, dport: 11, flags: SYN }, 8);
    const r = feed(heads, [parts[1]!, parts[2]!, parts[0]!]);
    assert.ok(r);
    assert.equal(r.f.dstPort, 11);
    assert.equal(r.f.tcpFlags, SYN);
    const ff = feed(
      new FragmentHeads(LIMITS),
      fragmentPackets({ src, dst, proto: "tcp", sport: 1, dport: 7, flags: SYN }, 16),
    );
    assert.equal(ff?.at, 0);
  });
}

test("bounded: datagrams that never complete are evicted (counted) or expire (counted)", () => {
  const heads = new FragmentHeads(LIMITS);
  for (let id = 0; id < 200; id++) {
    // Only the second fragment: the head never completes.
    const parts = fragmentPackets(
      { src: "198.51.100.7", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 2 },
      8,
      id,
    );
    assert.equal(feed(heads, [parts[1]!], id), undefined);
  }
  assert.ok(heads.evicted >= 200 - 16, `evicted ${heads.evicted}`);
  const late = fragmentPackets(
    { src: "198.51.100.8", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 2 },
    8,
    1,
  );
  feed(heads, [late[1]!], 1_000_000);
  assert.ok(heads.expired + heads.evicted > 0);
  // A fragment the second half of whose head came 30 s too late is not joined to it.
  const h2 = new FragmentHeads(LIMITS);
  const parts = fragmentPackets(
    { src: "198.51.100.7", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 2 },
    8,
    9,
  );
  assert.equal(feed(h2, [parts[0]!], 0), undefined);
  assert.equal(feed(h2, [parts[1]!], 30_001), undefined);
});
