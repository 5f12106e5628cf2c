import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseIp } from "../../../src/decode/address.js";
import {
  DECODE_STATUSES,
  type DecodeStatus,
  decodeFrame,
  formatDestination,
  formatSource,
  LinkType,
  PacketFacts,
} from "../../../src/decode/packet.js";
import { concat } from "../../helpers/pcap-builder.js";

// ---- hand-built frames -------------------------------------------------------------------

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function addr(text: string): Uint8Array {
  const ip = parseIp(text);
  assert.ok(ip, text);
  return ip.bytes;
}

function tcp(srcPort: number, dstPort: number, flags: number, optionBytes = 0, payload = 0): Uint8Array {
  const h = new Uint8Array(20 + optionBytes + payload);
  put16(h, 0, srcPort);
  put16(h, 2, dstPort);
  h[12] = ((20 + optionBytes) / 4) << 4;
  h[13] = flags;
  put16(h, 14, 1024);
  return h;
}

function udp(srcPort: number, dstPort: number, payload = 0): Uint8Array {
  const h = new Uint8Array(8 + payload);
  put16(h, 0, srcPort);
  put16(h, 2, dstPort);
  put16(h, 4, 8 + payload);
  return h;
}

interface V4Options {
  readonly src?: string;
  readonly dst?: string;
  readonly protocol?: number;
  readonly options?: number; // bytes of IP options, multiple of 4
  readonly fragment?: number; // the 16-bit flags + offset field
  readonly ttl?: number;
}

function ipv4(l4: Uint8Array, o: V4Options = {}): Uint8Array {
  const optionBytes = o.options ?? 0;
  const h = new Uint8Array(20 + optionBytes);
  h[0] = 0x40 | ((20 + optionBytes) / 4);
  put16(h, 2, h.length + l4.length);
  put16(h, 6, o.fragment ?? 0x4000);
  h[8] = o.ttl ?? 64;
  h[9] = o.protocol ?? 6;
  h.set(addr(o.src ?? "192.0.2.10"), 12);
  h.set(addr(o.dst ?? "198.51.100.20"), 16);
  if (optionBytes > 0) h.fill(0x01, 20); // NOP options
  return concat(h, l4);
}

/** An IPv6 extension header: next header and length bytes are filled in by `ipv6`. */
interface Ext {
  readonly type: number;
  readonly body: Uint8Array; // whole header, bytes 0 and 1 (and 1 for AH) are overwritten
}

function ext(type: number, length: number, fragmentField = 0): Ext {
  const body = new Uint8Array(length);
  if (type === 44) put16(body, 2, fragmentField);
  else if (type === 51) body[1] = length / 4 - 2;
  else body[1] = length / 8 - 1;
  return { type, body };
}

function ipv6(
  l4: Uint8Array,
  protocol: number,
  exts: readonly Ext[] = [],
  src = "2001:db8::10",
  dst = "2001:db8::20",
): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = 0x60;
  const chain = exts.map((e, i) => {
    const b = e.body.slice();
    b[0] = exts[i + 1]?.type ?? protocol;
    return b;
  });
  const payload = concat(...chain, l4);
  put16(h, 4, payload.length);
  h[6] = exts[0]?.type ?? protocol;
  h[7] = 255;
  h.set(addr(src), 8);
  h.set(addr(dst), 24);
  return concat(h, payload);
}

/** An ICMP error (type, code, 4 unused bytes) quoting `quoted`. */
function icmpError(type: number, code: number, quoted: Uint8Array): Uint8Array {
  return concat(new Uint8Array([type, code, 0, 0, 0, 0, 0, 0]), quoted);
}

/** This host (198.51.100.20) telling the prober (192.0.2.10) that UDP port 161 is closed. */
function unreachable4(type = 3, code = 3, quotedSource = "192.0.2.10", quotedProtocol = 17): Uint8Array {
  const quoted = ipv4(udp(40000, 161, 4), {
    src: quotedSource,
    dst: "198.51.100.20",
    protocol: quotedProtocol,
  });
  return ipv4(icmpError(type, code, quoted), { src: "198.51.100.20", dst: "192.0.2.10", protocol: 1 });
}

/** The same over IPv6: this host 2001:db8::20, the prober 2001:db8::10. */
function unreachable6(type = 1, code = 4): Uint8Array {
  const quoted = ipv6(udp(40000, 161, 4), 17, [], "2001:db8::10", "2001:db8::20");
  return ipv6(icmpError(type, code, quoted), 58, [], "2001:db8::20", "2001:db8::10");
}

function ether(ip: Uint8Array, etherType: number, vlanTags: readonly number[] = []): Uint8Array {
  const h = new Uint8Array(14 + 4 * vlanTags.length);
  h.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
  let at = 12;
  for (const tpid of vlanTags) {
    put16(h, at, tpid);
    put16(h, at + 2, 42); // VLAN id
    at += 4;
  }
  put16(h, at, etherType);
  return concat(h, ip);
}

function sll(ip: Uint8Array, etherType: number, packetType = 0): Uint8Array {
  const h = new Uint8Array(16);
  put16(h, 0, packetType);
  put16(h, 2, 1); // ARPHRD_ETHER
  put16(h, 4, 6);
  put16(h, 14, etherType);
  return concat(h, ip);
}

function sll2(ip: Uint8Array, etherType: number, packetType = 0): Uint8Array {
  const h = new Uint8Array(20);
  put16(h, 0, etherType);
  h[7] = 3; // ifindex
  put16(h, 8, 1);
  h[10] = packetType;
  h[11] = 6;
  return concat(h, ip);
}

const SYN = 0x02;
const facts = new PacketFacts();

function decode(frame: Uint8Array, linkType: number, wireLength?: number): DecodeStatus {
  return decodeFrame(frame, linkType, facts, wireLength);
}

// ---- link layers -------------------------------------------------------------------------

test("Ethernet / IPv4 / TCP SYN: every fact", () => {
  const frame = ether(ipv4(tcp(40000, 143, SYN, 4, 3), { ttl: 37 }), 0x0800);
  assert.equal(decode(frame, LinkType.ETHERNET), "ok");
  assert.equal(facts.family, 4);
  assert.equal(facts.protocol, 6);
  assert.equal(formatSource(facts), "192.0.2.10");
  assert.equal(formatDestination(facts), "198.51.100.20");
  assert.equal(facts.srcV4, 0xc000020a);
  assert.equal(facts.dstV4, 0xc6336414);
  assert.equal(facts.srcPort, 40000);
  assert.equal(facts.dstPort, 143);
  assert.equal(facts.tcpFlags, SYN);
  assert.equal(facts.ipOptions, false);
  assert.equal(facts.firstFragment, false);
  assert.equal(facts.outgoing, false);
  assert.equal(facts.ttl, 37);
  assert.equal(facts.payloadLength, 3);
});

test("Ethernet padding beyond the IP total length is ignored", () => {
  const frame = concat(ether(ipv4(udp(5353, 161), { protocol: 17 }), 0x0800), new Uint8Array(18).fill(0xee));
  assert.equal(decode(frame, LinkType.ETHERNET), "ok");
  assert.equal(facts.protocol, 17);
  assert.equal(facts.dstPort, 161);
  assert.equal(facts.payloadLength, 0);
  assert.equal(facts.tcpFlags, 0);
});

test("802.1Q and QinQ tags are skipped, a third tag is refused", () => {
  const ip = ipv4(tcp(1, 79, SYN));
  assert.equal(decode(ether(ip, 0x0800, [0x8100]), LinkType.ETHERNET), "ok");
  assert.equal(facts.dstPort, 79);
  assert.equal(decode(ether(ip, 0x0800, [0x88a8, 0x8100]), LinkType.ETHERNET), "ok");
  assert.equal(decode(ether(ip, 0x0800, [0x88a8, 0x8100, 0x8100]), LinkType.ETHERNET), "not-ip");
  assert.equal(decode(ether(ip, 0x0800, [0x8100]).subarray(0, 16), LinkType.ETHERNET), "truncated");
});

test("non-IP ethertypes and an ethertype that contradicts the IP version", () => {
  assert.equal(decode(ether(new Uint8Array(28), 0x0806), LinkType.ETHERNET), "not-ip");
  assert.equal(decode(ether(ipv6(udp(1, 2), 17), 0x0800), LinkType.ETHERNET), "bad-ip-header");
  assert.equal(decode(ether(ipv4(udp(1, 2)), 0x86dd), LinkType.ETHERNET), "bad-ip-header");
  assert.equal(decode(ether(new Uint8Array(0), 0x0800), LinkType.ETHERNET), "truncated");
});

test("Linux cooked captures v1 and v2, with the outgoing direction", () => {
  const v4 = ipv4(tcp(2000, 1524, SYN));
  const v6 = ipv6(udp(3000, 31337), 17);
  assert.equal(decode(sll(v4, 0x0800), LinkType.LINUX_SLL), "ok");
  assert.equal(facts.dstPort, 1524);
  assert.equal(facts.outgoing, false);
  assert.equal(decode(sll(v6, 0x86dd, 4), LinkType.LINUX_SLL), "ok");
  assert.equal(facts.family, 6);
  assert.equal(facts.outgoing, true);
  assert.equal(decode(sll2(v4, 0x0800, 4), LinkType.LINUX_SLL2), "ok");
  assert.equal(facts.outgoing, true);
  assert.equal(decode(sll2(v6, 0x86dd), LinkType.LINUX_SLL2), "ok");
  assert.equal(facts.outgoing, false);
  assert.equal(formatSource(facts), "2001:db8::10");
  assert.equal(facts.dstPort, 31337);
  assert.equal(decode(sll2(v4, 0x0800).subarray(0, 19), LinkType.LINUX_SLL2), "truncated");
  assert.equal(decode(sll(v4, 0x0800).subarray(0, 15), LinkType.LINUX_SLL), "truncated");
});

test("raw IP link types, BSD loopback, and unsupported links", () => {
  const v4 = ipv4(tcp(1, 2, SYN));
  const v6 = ipv6(tcp(1, 2, SYN), 6);
  for (const lt of [LinkType.RAW, LinkType.RAW_FILE, LinkType.IPV4, LinkType.IPV6]) {
    assert.equal(decode(v4, lt), "ok");
    assert.equal(facts.family, 4);
    assert.equal(decode(v6, lt), "ok");
    assert.equal(facts.family, 6);
  }
  assert.equal(decode(concat(Uint8Array.of(2, 0, 0, 0), v4), LinkType.NULL), "ok");
  assert.equal(decode(concat(Uint8Array.of(0, 0, 0, 30), v6), LinkType.LOOP), "ok");
  assert.equal(facts.family, 6);
  assert.equal(decode(v4, 105), "unsupported-link");
  assert.equal(decode(new Uint8Array(0), LinkType.RAW), "truncated");
  assert.equal(decode(Uint8Array.of(0x50), LinkType.RAW), "bad-ip-header");
});

// ---- IPv4 --------------------------------------------------------------------------------

test("IPv4 options are flagged and skipped", () => {
  assert.equal(decode(ipv4(tcp(7, 540, SYN), { options: 12 }), LinkType.RAW), "ok");
  assert.equal(facts.ipOptions, true);
  assert.equal(facts.dstPort, 540);
  assert.equal(facts.tcpFlags, SYN);
  assert.equal(decode(ipv4(tcp(7, 540, SYN), { options: 40 }), LinkType.RAW), "ok");
  assert.equal(facts.ipOptions, true);
  assert.equal(decode(ipv4(tcp(7, 540, SYN)), LinkType.RAW), "ok");
  assert.equal(facts.ipOptions, false, "a reused PacketFacts does not keep an old flag");
});

test("IPv4 header and length checks", () => {
  const good = ipv4(tcp(1, 2, SYN));
  const withIhl = (ihl: number) => {
    const b = good.slice();
    b[0] = 0x40 | ihl;
    return b;
  };
  assert.equal(decode(withIhl(4), LinkType.RAW), "bad-ip-header");
  assert.equal(decode(withIhl(0), LinkType.RAW), "bad-ip-header");
  assert.equal(decode(withIhl(15), LinkType.RAW), "truncated"); // 60-byte header, 40-byte packet
  assert.equal(decode(good.subarray(0, 19), LinkType.RAW), "truncated");
  const withTotal = (n: number) => {
    const b = good.slice();
    put16(b, 2, n);
    return b;
  };
  assert.equal(decode(withTotal(19), LinkType.RAW), "bad-ip-length");
  assert.equal(decode(withTotal(41), LinkType.RAW), "bad-ip-length");
  assert.equal(decode(withTotal(30), LinkType.RAW), "bad-tcp-header"); // 10 bytes of TCP
  // A short snaplen: IP says 40 bytes and the wire had them, the capture keeps 34 → truncated.
  assert.equal(decode(good.subarray(0, 34), LinkType.RAW, 40), "truncated");
  // ... but a snaplen that keeps the TCP header is fine, payload length comes from IP.
  const big = ipv4(tcp(1, 2, SYN, 0, 1000));
  assert.equal(decode(big.subarray(0, 60), LinkType.RAW, big.length), "ok");
  assert.equal(facts.payloadLength, 1000);
});

test("IPv4 fragments: first fragment decoded if it holds the L4 header, others dropped", () => {
  const MF = 0x2000;
  assert.equal(decode(ipv4(tcp(5, 111, SYN, 0, 8), { fragment: MF }), LinkType.RAW), "ok");
  assert.equal(facts.firstFragment, true);
  assert.equal(facts.dstPort, 111);
  assert.equal(decode(ipv4(udp(5, 69, 100), { protocol: 17, fragment: MF }), LinkType.RAW), "ok");
  assert.equal(facts.firstFragment, true);
  // The UDP length covers the reassembled datagram, more than this fragment carries.
  const udpHead = ipv4(udp(5, 69, 100).subarray(0, 48), { protocol: 17, fragment: MF });
  assert.equal(decode(udpHead, LinkType.RAW), "ok");
  assert.equal(facts.payloadLength, 40);
  assert.equal(decode(ipv4(tcp(5, 111, SYN), { fragment: MF | 3 }), LinkType.RAW), "fragment");
  assert.equal(decode(ipv4(tcp(5, 111, SYN), { fragment: 1 }), LinkType.RAW), "fragment");
  // nmap -f: 8 bytes of TCP header in the first fragment, the flags are in the next one.
  const tiny = ipv4(tcp(5, 111, SYN).subarray(0, 8), { fragment: MF });
  assert.equal(decode(tiny, LinkType.RAW), "tiny-fragment");
  const tinyUdp = ipv4(udp(5, 69).subarray(0, 4), { protocol: 17, fragment: MF });
  assert.equal(decode(tinyUdp, LinkType.RAW), "tiny-fragment");
});

test("TCP and UDP header checks, other protocols", () => {
  const badOffset = tcp(1, 2, SYN);
  badOffset[12] = 4 << 4;
  assert.equal(decode(ipv4(badOffset), LinkType.RAW), "bad-tcp-header");
  const longOffset = tcp(1, 2, SYN);
  longOffset[12] = 6 << 4; // 24-byte header in a 20-byte segment
  assert.equal(decode(ipv4(longOffset), LinkType.RAW), "bad-tcp-header");
  const shortUdp = udp(1, 2);
  put16(shortUdp, 4, 7);
  assert.equal(decode(ipv4(shortUdp, { protocol: 17 }), LinkType.RAW), "bad-udp-header");
  const longUdp = udp(1, 2, 4);
  put16(longUdp, 4, 13);
  assert.equal(decode(ipv4(longUdp, { protocol: 17 }), LinkType.RAW), "bad-udp-header");
  assert.equal(decode(ipv4(udp(1, 2).subarray(0, 6), { protocol: 17 }), LinkType.RAW), "bad-udp-header");
  assert.equal(decode(ipv4(new Uint8Array(8), { protocol: 1 }), LinkType.RAW), "not-tcp-udp");
});

// ---- IPv6 --------------------------------------------------------------------------------

test("IPv6 with hop-by-hop, destination options, routing, AH and first-fragment headers", () => {
  const exts = [ext(0, 8), ext(60, 16), ext(43, 24), ext(51, 12), ext(44, 8, 0x0001)];
  assert.equal(decode(ether(ipv6(tcp(6000, 12345, 0x29), 6, exts), 0x86dd), LinkType.ETHERNET), "ok");
  assert.equal(facts.family, 6);
  assert.equal(facts.protocol, 6);
  assert.equal(facts.srcPort, 6000);
  assert.equal(facts.dstPort, 12345);
  assert.equal(facts.tcpFlags, 0x29);
  assert.equal(facts.firstFragment, true);
  assert.equal(facts.ttl, 255);
  assert.equal(facts.srcV4, 0);
  assert.equal(formatSource(facts), "2001:db8::10");
  assert.equal(formatDestination(facts), "2001:db8::20");

  assert.equal(decode(ipv6(udp(53, 32771, 5), 17, [ext(60, 8)]), LinkType.RAW), "ok");
  assert.equal(facts.protocol, 17);
  assert.equal(facts.payloadLength, 5);
  assert.equal(facts.firstFragment, false);
});

test("IPv6 fragments, undecodable next headers and bounds", () => {
  assert.equal(decode(ipv6(tcp(1, 2, SYN), 6, [ext(44, 8, 0x0008)]), LinkType.RAW), "fragment");
  assert.equal(
    decode(ipv6(tcp(1, 2, SYN).subarray(0, 8), 6, [ext(44, 8, 1)]), LinkType.RAW),
    "tiny-fragment",
  );
  assert.equal(decode(ipv6(new Uint8Array(8), 50), LinkType.RAW), "not-tcp-udp"); // ESP
  assert.equal(decode(ipv6(new Uint8Array(0), 59), LinkType.RAW), "not-tcp-udp"); // no next header
  assert.equal(decode(ipv6(new Uint8Array(8), 58, [ext(60, 8)]), LinkType.RAW), "not-tcp-udp"); // ICMPv6
  assert.equal(decode(ipv6(tcp(1, 2, SYN), 6, [ext(60, 8), ext(0, 8)]), LinkType.RAW), "bad-ext-header");
  const eight = Array.from({ length: 8 }, () => ext(60, 8));
  assert.equal(decode(ipv6(tcp(1, 2, SYN), 6, eight), LinkType.RAW), "ok");
  const nine = Array.from({ length: 9 }, () => ext(60, 8));
  assert.equal(decode(ipv6(tcp(1, 2, SYN), 6, nine), LinkType.RAW), "too-many-ext-headers");
  // A destination-options header claiming more bytes than the datagram has.
  const overlong = ipv6(tcp(1, 2, SYN), 6, [ext(60, 8)]);
  overlong[41] = 200;
  assert.equal(decode(overlong, LinkType.RAW), "bad-ext-header");
  const frame = ipv6(tcp(1, 2, SYN), 6);
  assert.equal(decode(frame.subarray(0, 39), LinkType.RAW), "truncated");
  assert.equal(decode(frame.subarray(0, 50), LinkType.RAW, frame.length), "truncated");
  assert.equal(decode(frame.subarray(0, 50), LinkType.RAW), "bad-ip-length");
  const padded = concat(frame, new Uint8Array(4));
  assert.equal(decode(padded, LinkType.RAW), "ok");
  assert.equal(facts.payloadLength, 0);
});

// ---- fuzzing -----------------------------------------------------------------------------

const KNOWN = new Set<string>(DECODE_STATUSES);
const LINK_TYPES = [...Object.values(LinkType), 2, 105, 1000];

function checkInvariants(status: DecodeStatus, f: PacketFacts): void {
  assert.ok(KNOWN.has(status), status);
  if (status !== "ok") return;
  assert.ok(f.family === 4 || f.family === 6);
  assert.ok(f.protocol === 6 || f.protocol === 17);
  assert.ok(Number.isInteger(f.srcPort) && f.srcPort >= 0 && f.srcPort <= 0xffff);
  assert.ok(Number.isInteger(f.dstPort) && f.dstPort >= 0 && f.dstPort <= 0xffff);
  assert.ok(f.tcpFlags >= 0 && f.tcpFlags <= 0xff);
  assert.ok(f.payloadLength >= 0);
  if (f.family === 4) assert.ok(f.srcV4 >= 0 && f.srcV4 <= 0xffffffff);
  formatSource(f);
}

/** Valid frames of every shape, as the seed for mutation. */
const CORPUS: readonly (readonly [Uint8Array, number])[] = [
  [ether(ipv4(tcp(40000, 143, SYN)), 0x0800), LinkType.ETHERNET],
  [ether(ipv4(udp(1, 161, 10), { protocol: 17, options: 8 }), 0x0800, [0x8100]), LinkType.ETHERNET],
  [ether(ipv6(tcp(1, 2, 0), 6, [ext(0, 8), ext(60, 16), ext(44, 8, 1)]), 0x86dd), LinkType.ETHERNET],
  [sll(ipv4(tcp(1, 2, 0x29), { fragment: 0x2000 }), 0x0800), LinkType.LINUX_SLL],
  [sll2(ipv6(udp(1, 2, 3), 17, [ext(43, 8), ext(51, 12)]), 0x86dd), LinkType.LINUX_SLL2],
  [ipv4(tcp(1, 2, 1, 8)), LinkType.RAW],
  [ipv6(tcp(1, 2, 1), 6), LinkType.RAW_FILE],
  [ether(unreachable4(), 0x0800), LinkType.ETHERNET],
  [ether(unreachable6(), 0x86dd), LinkType.ETHERNET],
];

for (const [frame, linkType] of CORPUS) {
  assert.equal(decodeFrame(frame, linkType, facts), "ok", "corpus frames are valid");
}

test("ICMP port unreachable quoting UDP: a UDP answer, ports mirrored, from this host to the prober", () => {
  for (const [frame, family, us, prober] of [
    [unreachable4(), 4, "198.51.100.20", "192.0.2.10"],
    [unreachable6(), 6, "2001:db8::20", "2001:db8::10"],
  ] as const) {
    assert.equal(decodeFrame(ether(frame, family === 4 ? 0x0800 : 0x86dd), LinkType.ETHERNET, facts), "ok");
    assert.equal(facts.family, family);
    assert.equal(facts.protocol, 17);
    assert.equal(facts.icmpUnreachable, true);
    assert.equal(formatSource(facts), us);
    assert.equal(formatDestination(facts), prober);
    assert.equal(facts.srcPort, 161, "the probed port");
    assert.equal(facts.dstPort, 40000, "the prober's port");
  }
  // A UDP datagram decodes with the flag off again (the facts object is reused).
  assert.equal(decodeFrame(ether(ipv4(udp(1, 2), { protocol: 17 }), 0x0800), LinkType.ETHERNET, facts), "ok");
  assert.equal(facts.icmpUnreachable, false);
});

test("other ICMP is no answer: other types and codes, a quoted TCP segment, a quote from a third host", () => {
  const cases: readonly Uint8Array[] = [
    unreachable4(8, 0), // echo request
    unreachable4(3, 1), // host unreachable
    unreachable4(3, 3, "203.0.113.9"), // quotes a datagram the prober did not send
    unreachable4(3, 3, "192.0.2.10", 6), // quotes TCP
    unreachable6(1, 0), // no route
    unreachable6(128, 0), // echo request
  ];
  for (const frame of cases) {
    const etherType = frame[0]! >> 4 === 4 ? 0x0800 : 0x86dd;
    assert.equal(decodeFrame(ether(frame, etherType), LinkType.ETHERNET, facts), "not-tcp-udp");
  }
  // Cut inside the quote (a short snaplen): truncated, not misread.
  const frame = ether(unreachable4(), 0x0800);
  assert.equal(
    decodeFrame(frame.subarray(0, 14 + 20 + 8 + 20 + 4), LinkType.ETHERNET, facts, frame.length),
    "truncated",
  );
});

test("fuzz: random bytes never throw and give a known status", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...LINK_TYPES), (bytes, linkType) => {
      checkInvariants(decodeFrame(bytes, linkType, facts), facts);
    }),
    { numRuns: 5000 },
  );
});

type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly value: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "extend"; readonly bytes: Uint8Array };

function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = frame.slice();
  for (const m of mutations) {
    if (m.op === "flip" && b.length > 0) b[m.at % b.length] = m.value;
    else if (m.op === "truncate") b = b.slice(0, m.at % (b.length + 1));
    else if (m.op === "extend") b = concat(b, m.bytes);
  }
  return b;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("extend" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);

test("fuzz: mutated valid frames never throw and give a known status", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CORPUS),
      fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      ([frame, linkType], mutations, shortSnaplen) => {
        const bytes = mutate(frame, mutations);
        // Sometimes pretend the wire had more than was captured.
        const wire = shortSnaplen ? bytes.length + 100 : bytes.length;
        checkInvariants(decodeFrame(bytes, linkType, facts, wire), facts);
      },
    ),
    { numRuns: 20000 },
  );
});

test("property: a frame in a larger slot decodes as the frame alone (capturedLength), never past it", () => {
  const alone = new PacketFacts();
  fc.assert(
    fc.property(
      fc.constantFrom(...CORPUS),
      fc.array(mutationArb, { maxLength: 4 }),
      fc.uint8Array({ minLength: 1, maxLength: 80 }),
      ([frame, linkType], mutations, trailing) => {
        const bytes = mutate(frame, mutations);
        // A live capture's slot: the frame, then stale bytes of an earlier, longer frame.
        const slot = concat(bytes, trailing);
        const expected = decodeFrame(bytes, linkType, alone);
        const got = decodeFrame(slot, linkType, facts, bytes.length, bytes.length);
        assert.equal(got, expected);
        if (got === "ok") {
          assert.equal(formatSource(facts), formatSource(alone));
          assert.equal(facts.dstPort, alone.dstPort);
          assert.equal(facts.tcpFlags, alone.tcpFlags);
          assert.equal(facts.payloadLength, alone.payloadLength);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test("property: generated valid TCP/UDP packets decode to what was built", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xff }),
      fc.boolean(),
      fc.boolean(),
      fc.ipV4(),
      (srcPort, dstPort, flags, isTcp, v6, src) => {
        const l4 = isTcp ? tcp(srcPort, dstPort, flags) : udp(srcPort, dstPort);
        const proto = isTcp ? 6 : 17;
        const ip = v6 ? ipv6(l4, proto, [ext(60, 8)]) : ipv4(l4, { protocol: proto, src });
        assert.equal(decodeFrame(ether(ip, v6 ? 0x86dd : 0x0800), LinkType.ETHERNET, facts), "ok");
        assert.equal(facts.protocol, proto);
        assert.equal(facts.srcPort, srcPort);
        assert.equal(facts.dstPort, dstPort);
        assert.equal(facts.tcpFlags, isTcp ? flags : 0);
        assert.equal(formatSource(facts), v6 ? "2001:db8::10" : src);
      },
    ),
    { numRuns: 2000 },
  );
});

test("fuzz: 100 000 random and mutated frames in bounded time", () => {
  // xorshift32: deterministic, so a failure is reproducible.
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const seen = new Map<DecodeStatus, number>();
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) {
    let bytes: Uint8Array;
    let linkType: number;
    if (i % 2 === 0) {
      bytes = new Uint8Array(next() % 128);
      for (let j = 0; j < bytes.length; j++) bytes[j] = next() & 0xff;
      linkType = LINK_TYPES[next() % LINK_TYPES.length]!;
    } else {
      const [frame, lt] = CORPUS[next() % CORPUS.length]!;
      bytes = frame.slice(0, frame.length - (next() % 8));
      for (let k = next() % 3; k >= 0; k--) bytes[next() % bytes.length] = next() & 0xff;
      linkType = lt;
    }
    const status = decodeFrame(bytes, linkType, facts);
    if (!KNOWN.has(status)) assert.fail(`unknown status ${status}`);
    seen.set(status, (seen.get(status) ?? 0) + 1);
  }
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs < 5000, `100 000 frames took ${elapsedMs.toFixed(0)} ms`);
  // The mutated half must still reach the deep checks, or the fuzzing proves little.
  assert.ok((seen.get("ok") ?? 0) > 1000, JSON.stringify([...seen]));
  assert.ok(seen.size >= 8, JSON.stringify([...seen]));
});

test("an IPv4-mapped IPv6 source is reported as the IPv4 address (one key per host)", () => {
  const mapped = ipv6(tcp(40000, 143, SYN), 6, [], "::ffff:192.0.2.1", "2001:db8::20");
  assert.equal(decode(ether(mapped, 0x86dd), LinkType.ETHERNET), "ok");
  assert.equal(facts.family, 6, "the packet stays an IPv6 packet");
  assert.equal(formatSource(facts), "192.0.2.1");
  assert.equal(formatDestination(facts), "2001:db8::20");
});
