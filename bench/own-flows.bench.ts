/**
 * What issue #14's per-packet rules cost: the table of flows this host started (one lookup per
 * candidate probe, one insert per packet the host sends from a watched port), the checksum of a
 * candidate, and a fragmented header put back together. Prints ns per packet and the tables'
 * memory.
 *
 *   bash scripts/build.sh && node dist/bench/own-flows.bench.js [iterations]
 */
import { checksumOk } from "../src/decode/checksum.js";
import { FragmentHeads } from "../src/decode/fragments.js";
import { decodeFrame, LinkType, PacketFacts } from "../src/decode/packet.js";
import { OwnFlows } from "../src/detect/own-flows.js";
import { FRAGMENT_LIMITS, OWN_FLOW_LIMITS } from "../src/limits.js";

const iterations = Number(process.argv[2] ?? 2_000_000);
const N = 4096;

/** An IPv4 TCP or UDP packet (raw IP), `a`/`b` the last octets of source and destination. */
function packet(proto: 6 | 17, a: number, b: number, sport: number, dport: number): Uint8Array {
  const l4 = proto === 6 ? 20 : 8;
  const p = new Uint8Array(20 + l4);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = proto;
  p.set([198, 51, (a >> 8) & 0xff, a & 0xff], 12);
  p.set([192, 0, 2, b & 0xff], 16);
  v.setUint16(20, sport);
  v.setUint16(22, dport);
  if (proto === 6) {
    p[32] = 0x50;
    p[33] = 0x02;
  } else v.setUint16(24, 8);
  return p;
}

function facts(ip: Uint8Array): PacketFacts {
  const f = new PacketFacts();
  const status = decodeFrame(ip, LinkType.RAW, f);
  if (status !== "ok") throw new Error(status);
  return f;
}

/** `fn(i)` `iterations` times after a warm-up; ns per call. */
function time(fn: (i: number) => number): number {
  let sink = 0;
  for (let i = 0; i < Math.min(iterations, 200_000); i++) sink += fn(i);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += fn(i);
  const ns = Number(process.hrtime.bigint() - started) / iterations;
  if (sink === -1) console.log(sink);
  return ns;
}

const flows = new OwnFlows(OWN_FLOW_LIMITS);
// Our queries: from port 123 to N servers (their answers come to us with the ports swapped).
const outgoing = Array.from({ length: N }, (_, i) => {
  const f = facts(packet(17, i, 1, 123, 123));
  // As sent by us: swap the addresses.
  const src = f.src.slice();
  f.src.set(f.dst);
  f.dst.set(src);
  return f;
});
const answers = Array.from({ length: N }, (_, i) => facts(packet(17, i, 1, 123, 123)));
const probes = Array.from({ length: N }, (_, i) => facts(packet(6, i + 20_000, 1, 40_000 + i, 22)));
const synFrames = Array.from({ length: N }, (_, i) => packet(6, i, 1, 40_000, 22));
const synFacts = synFrames.map(facts);

const rows: [string, number][] = [
  [
    "own flows: note an outgoing datagram",
    time((i) => {
      flows.noteOutgoing(outgoing[i % N]!, i / 1000);
      return 1;
    }),
  ],
  ["own flows: a reply (found)", time((i) => (flows.isReply(answers[i % N]!, i / 1000) ? 1 : 0))],
  ["own flows: a probe (not found)", time((i) => (flows.isReply(probes[i % N]!, i / 1000) ? 1 : 0))],
  ["checksum of a SYN candidate", time((i) => (checksumOk(synFrames[i % N]!, synFacts[i % N]!) ? 1 : 0))],
];

// Fragments: an 8-byte first fragment and the 8 bytes after it (nmap -f), a new id each time.
const heads = new FragmentHeads(FRAGMENT_LIMITS);
const first = packet(6, 7, 1, 40_000, 22).slice(0, 28);
const second = new Uint8Array(28);
second.set(first.subarray(0, 20));
second.set(packet(6, 7, 1, 40_000, 22).subarray(28, 36), 20);
for (const [p, flagsOffset] of [
  [first, 0x2000],
  [second, 0x2001],
] as const) {
  new DataView(p.buffer).setUint16(2, 28);
  new DataView(p.buffer).setUint16(6, flagsOffset);
}
const f = new PacketFacts();
rows.push([
  "fragments: two 8-byte fragments → one header",
  time((i) => {
    first[4] = second[4] = i & 0xff;
    first[5] = second[5] = (i >> 8) & 0xff;
    decodeFrame(first, LinkType.RAW, f);
    heads.add(first, f, i / 1000);
    decodeFrame(second, LinkType.RAW, f);
    return heads.add(second, f, i / 1000) ? 1 : 0;
  }) / 2,
]);

console.log(`issue #14 rules: ${iterations} per case, node ${process.version}`);
for (const [name, ns] of rows) console.log(`${name.padEnd(48)} ${ns.toFixed(1).padStart(7)} ns/packet`);
console.log(`own flows table: ${OWN_FLOW_LIMITS.capacity} flows, ${(flows.bytes / 1024).toFixed(0)} KiB`);
console.log(`fragment heads:  ${FRAGMENT_LIMITS.capacity} datagrams, ${(heads.bytes / 1024).toFixed(0)} KiB`);
