import assert from "node:assert/strict";
import { test } from "node:test";
import { checksumOk } from "../../../src/decode/checksum.js";
import { decodeFrame, LinkType, PacketFacts } from "../../../src/decode/packet.js";
import { ipPacket, type PacketSpec } from "../../helpers/pcap-builder.js";

/** RFC 1071 over the pseudo-header and the segment, written independently of the decoder. */
function reference(ip: Uint8Array): number {
  const v4 = ip[0]! >> 4 === 4;
  const header = v4 ? (ip[0]! & 0x0f) * 4 : 40;
  const proto = v4 ? ip[9]! : ip[6]!;
  const seg = ip.subarray(header);
  const words: number[] = [];
  const addr = v4 ? ip.subarray(12, 20) : ip.subarray(8, 40);
  for (let i = 0; i < addr.length; i += 2) words.push((addr[i]! << 8) | addr[i + 1]!);
  words.push(proto, seg.length);
  for (let i = 0; i < seg.length; i += 2) words.push((seg[i]! << 8) | (seg[i + 1] ?? 0));
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function judged(p: PacketSpec, set: (ip: Uint8Array, field: number) => void): boolean {
  const ip = ipPacket(p);
  const v4 = ip[0]! >> 4 === 4;
  const field = (v4 ? 20 : 40) + (p.proto === "tcp" ? 16 : 6);
  set(ip, field);
  const f = new PacketFacts();
  assert.equal(decodeFrame(ip, LinkType.RAW, f), "ok");
  return checksumOk(ip, f);
}

const put = (ip: Uint8Array, at: number, v: number) => {
  ip[at] = v >> 8;
  ip[at + 1] = v & 0xff;
};

for (const [name, src, dst] of [
  ["IPv4", "198.51.100.7", "192.0.2.1"],
  ["IPv6", "2001:db8:5::7", "2001:db8::1"],
] as const) {
  for (const proto of ["tcp", "udp"] as const) {
    test(`${name} ${proto}: the right sum passes, a wrong one does not, 0 is not judged`, () => {
      const p: PacketSpec = { src, dst, proto, sport: 40000, dport: 143, payloadBytes: 3 };
      assert.equal(
        judged(p, (ip, at) => put(ip, at, reference(ip))),
        true,
      );
      assert.equal(
        judged(p, (ip, at) => put(ip, at, reference(ip) ^ 0x0100)),
        false,
      );
      assert.equal(
        judged(p, (ip, at) => put(ip, at, 0)),
        true,
      );
    });
  }
}

test("an offload's partial sum (the pseudo-header only) is not judged; a short capture neither", () => {
  const p: PacketSpec = { src: "198.51.100.7", dst: "192.0.2.1", proto: "tcp", sport: 40000, dport: 143 };
  // The pseudo-header sum alone: the segment's words summed with a zero checksum field and
  // taken back out of the full reference.
  const ip = ipPacket(p);
  const seg = ip.subarray(20);
  let segSum = 0;
  for (let i = 0; i < seg.length; i += 2) segSum += (seg[i]! << 8) | seg[i + 1]!;
  let full = (~reference(ip) & 0xffff) + 0xffff * 4 - segSum;
  while (full > 0xffff) full = (full & 0xffff) + (full >>> 16);
  assert.equal(
    judged(p, (b, at) => put(b, at, full)),
    true,
  );
  const bad = ipPacket({ ...p, badChecksum: true });
  const f = new PacketFacts();
  assert.equal(decodeFrame(bad, LinkType.RAW, f), "ok");
  assert.equal(checksumOk(bad, f), false);
  assert.equal(checksumOk(bad, f, bad.length - 1), true, "cut short: unknown");
});
