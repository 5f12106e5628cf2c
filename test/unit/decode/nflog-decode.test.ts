import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeNflog, encodeNflog, ipSourceOf, LINKTYPE_NFLOG } from "../../../src/decode/nflog.js";
import { decodeFrame, formatSource, LinkType, PacketFacts } from "../../../src/decode/packet.js";

/**
 * A frame captured here from `nflog:7` (libpcap, x86): a SYN from 192.0.2.2 to port 79 logged
 * by `log prefix "pskt stcp" group 7`; TLVs: packet header, prefix, indev, hwaddr, hwtype,
 * hwlen, hwheader, timestamp, payload.
 */
const CAPTURED = Buffer.from(
  "0200000708000100080000000e000a0070736b742073746370000000080004000000000210000800000600003274307b04940000" +
    "06000f000001000006001100000e0000120010001a706b14db5e3274307b04940800000014000300000000006b06ac5600000000" +
    "0005407a2c00090045000028a717000040064fb5c0000202c00002010641004f3fcc6d90205b599d50020200fbf90000",
  "hex",
);

interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Builds an NFLOG frame the way the kernel lays it out (TLV header in `littleEndian` order). */
function frame(family: number, group: number, tlvs: readonly Tlv[], littleEndian = true): Uint8Array {
  const parts: number[] = [family, 0, group >> 8, group & 0xff];
  for (const t of tlvs) {
    const length = 4 + t.value.length;
    const h16 = (v: number) => (littleEndian ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff]);
    parts.push(...h16(length), ...h16(t.type), ...t.value);
    while (parts.length % 4 !== 0) parts.push(0);
  }
  return Uint8Array.from(parts);
}

const ascii = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)).concat(0));

/** A 40-byte IPv4 SYN from `src` to 192.0.2.1:`port`. */
function ipv4Syn(src: readonly number[], port: number): Uint8Array {
  const b = new Uint8Array(40);
  b.set([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, ...src, 192, 0, 2, 1]);
  b.set([0x30, 0x39, port >> 8, port & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
  return b;
}

test("a frame captured from nflog:7 yields its prefix and the SYN inside", () => {
  const r = decodeNflog(CAPTURED);
  assert.ok(r.ok);
  assert.equal(r.family, 4);
  assert.equal(r.group, 7);
  assert.equal(r.prefix, "pskt stcp");
  assert.equal(r.hook, 0); // prerouting
  assert.equal(r.inIfindex, 2);
  assert.equal(r.payload.length, 40);
  assert.equal(r.payloadLinkType, LinkType.IPV4);
  const f = new PacketFacts();
  assert.equal(decodeFrame(r.payload, r.payloadLinkType, f), "ok");
  assert.equal(formatSource(f), "192.0.2.2");
  assert.equal(f.dstPort, 79);
  assert.equal(f.tcpFlags, 0x02);
  assert.equal(LINKTYPE_NFLOG, 239);
});

test("IPv6 family, big-endian TLV headers, unknown TLVs skipped, flag bits in the type ignored", () => {
  const payload = new Uint8Array(48);
  payload[0] = 0x60;
  const f = frame(
    10,
    31337,
    [
      { type: 0x11, value: Uint8Array.of(0, 14) },
      { type: 10 | 0x4000, value: ascii("portsentry:atcp") },
      { type: 9, value: payload },
    ],
    false,
  );
  const r = decodeNflog(f, false);
  assert.ok(r.ok);
  assert.equal(r.family, 6);
  assert.equal(r.group, 31337);
  assert.equal(r.prefix, "portsentry:atcp");
  assert.equal(r.payloadLinkType, LinkType.IPV6);
  assert.equal(r.payload.length, 48);
  assert.equal(r.inIfindex, undefined);
});

test("bad frames are results, not exceptions", () => {
  assert.deepEqual(decodeNflog(new Uint8Array(3)), { ok: false, status: "truncated" });
  assert.deepEqual(decodeNflog(Uint8Array.of(2, 1, 0, 0)), { ok: false, status: "bad-version" });
  assert.deepEqual(decodeNflog(Uint8Array.of(7, 0, 0, 0)), { ok: false, status: "not-ip" });
  assert.deepEqual(decodeNflog(frame(2, 1, [{ type: 10, value: ascii("x") }])), {
    ok: false,
    status: "no-payload",
  });
  assert.deepEqual(decodeNflog(Uint8Array.of(2, 0, 0, 1, 2, 0, 9, 0)), { ok: false, status: "bad-tlv" });
  const cut = frame(2, 1, [{ type: 9, value: ipv4Syn([192, 0, 2, 2], 1) }]).slice(0, 30);
  assert.deepEqual(decodeNflog(cut), { ok: false, status: "truncated" });
  assert.deepEqual(decodeNflog(Uint8Array.of(2, 0, 0, 1, 8, 0)), { ok: false, status: "truncated" });
});

test("prefix: printable ASCII up to the NUL, other bytes shown as ?", () => {
  const value = Uint8Array.of(0x61, 0x0a, 0xff, 0x62, 0, 0x63);
  const r = decodeNflog(
    frame(2, 1, [
      { type: 10, value },
      { type: 9, value: ipv4Syn([1, 2, 3, 4], 1) },
    ]),
  );
  assert.ok(r.ok);
  assert.equal(r.prefix, "a??b");
});

test("ipSourceOf names the source from the IP header alone", () => {
  assert.deepEqual(ipSourceOf(ipv4Syn([198, 51, 100, 9], 1), 4), Uint8Array.of(198, 51, 100, 9));
  assert.equal(ipSourceOf(new Uint8Array(10), 4), undefined);
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  v6[8] = 0x20;
  assert.equal(ipSourceOf(v6, 6)?.[0], 0x20);
  assert.equal(ipSourceOf(v6, 4), undefined);
});

test("property: any bytes decode to a result without throwing; payload stays inside the frame", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, le) => {
      const r = decodeNflog(bytes, le);
      if (r.ok) {
        assert.ok(r.payload.byteOffset >= bytes.byteOffset);
        assert.ok(r.payload.byteOffset + r.payload.length <= bytes.byteOffset + bytes.length);
      }
    }),
    { numRuns: 5000 },
  );
});

test("property: built frames round-trip (prefix, group, payload) in any TLV order", () => {
  const tlvArb = fc.record({
    type: fc.integer({ min: 1, max: 30 }).filter((t) => t !== 9 && t !== 10),
    value: fc.uint8Array({ maxLength: 24 }),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(2, 10),
      fc.integer({ min: 0, max: 65535 }),
      fc.stringMatching(/^[ -~]{0,60}$/),
      fc.uint8Array({ minLength: 1, maxLength: 120 }),
      fc.array(tlvArb, { maxLength: 5 }),
      fc.nat(),
      fc.boolean(),
      (family, group, prefix, payload, others, at, le) => {
        const tlvs: Tlv[] = [...others];
        tlvs.splice(at % (tlvs.length + 1), 0, { type: 9, value: payload });
        tlvs.splice((at >> 3) % (tlvs.length + 1), 0, { type: 10, value: ascii(prefix) });
        const r = decodeNflog(frame(family, group, tlvs, le), le);
        assert.ok(r.ok);
        assert.equal(r.family, family === 2 ? 4 : 6);
        assert.equal(r.group, group);
        assert.equal(r.prefix, prefix);
        assert.deepEqual([...r.payload], [...payload]);
      },
    ),
    { numRuns: 2000 },
  );
});

test("encodeNflog builds the frame decodeNflog reads back (the warm-up's synthetic reports)", () => {
  const packet = ipv4Syn([198, 51, 100, 7], 143);
  const r = decodeNflog(encodeNflog(4, 31337, "portsentry:seen:stcp", packet));
  assert.ok(r.ok);
  assert.equal(r.family, 4);
  assert.equal(r.group, 31337);
  assert.equal(r.prefix, "portsentry:seen:stcp");
  assert.deepEqual([...r.payload], [...packet]);
  assert.equal(r.payloadLinkType, LinkType.IPV4);
});
