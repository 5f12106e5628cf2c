/**
 * Ignore-list cost: parsing a large ignore file, and one lookup per probe (policy checks every
 * hit against the list before it counts).
 *
 *   npx tsc -p . && node dist/bench/ignore-match.bench.js [entries] [lookups]
 *
 * Entries are spread over the IPv4 space with 17 distinct prefix lengths (/16 … /32), plus 1%
 * IPv6 /48s. Lookups are random addresses, so the range arrays do not sit in L1.
 */
import { parseIgnoreList } from "../src/config/ignore.js";
import { type IpBytes, parseIp } from "../src/decode/address.js";

const entries = Number(process.argv[2] ?? 100_000);
const lookups = Number(process.argv[3] ?? 2_000_000);

const dotted = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

const lines: string[] = [];
for (let i = 0; i < entries; i++)
  lines.push(`${dotted((i * 2654435761) >>> 0)}/${16 + (i % 17)}  # entry ${i}`);
for (let i = 0; i < entries / 100; i++) lines.push(`2001:db8:${i.toString(16)}::/48`);
const text = lines.join("\n");

const started = performance.now();
const parsed = parseIgnoreList(text, "bench.ignore");
const parseMs = performance.now() - started;
if (!parsed.ok) throw new Error("bench input does not parse");
const list = parsed.value;

const v4: IpBytes[] = Array.from(
  { length: 4096 },
  (_, i) => parseIp(dotted((i * 40503 * 65537 + 12345) >>> 0))!,
);
const v6: IpBytes[] = Array.from(
  { length: 4096 },
  (_, i) => parseIp(`2001:db8:${(i * 7).toString(16)}::${i.toString(16)}`)!,
);

function run(addrs: readonly IpBytes[]): { nsPerLookup: number; hits: number } {
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (list.matches(addrs[i & 4095]!)) hits++; // warm-up
  hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < lookups; i++) if (list.matches(addrs[i & 4095]!)) hits++;
  return { nsPerLookup: ((performance.now() - t0) * 1e6) / lookups, hits };
}

const r4 = run(v4);
const r6 = run(v6);

console.log(`ignore list: ${list.size} networks from ${lines.length} lines`);
console.log(
  `parse, index included: ${parseMs.toFixed(0)} ms (${((parseMs * 1000) / lines.length).toFixed(2)} µs/line)`,
);
console.log(`IPv4 lookup: ${r4.nsPerLookup.toFixed(0)} ns (${((r4.hits / lookups) * 100).toFixed(1)}% hits)`);
console.log(`IPv6 lookup: ${r6.nsPerLookup.toFixed(0)} ns (${((r6.hits / lookups) * 100).toFixed(1)}% hits)`);
