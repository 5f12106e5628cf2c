/**
 * The SCAN_TRIGGER table under a spoofed-source flood: one million sources, each new (IPv4 and
 * IPv6 text keys, as the capture hands them over), into a table of the daemon's capacity.
 * Prints ns per record and memory (heapUsed and RSS after a full GC) every 100 000 records:
 * once the table is full, every record evicts the oldest source and memory must stay flat.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/trigger-table.bench.js [records=1000000]
 *
 * Keys are made in chunks of 100 000 outside the timed loop (the chunk is dropped before each
 * memory sample), so the figures are the table's own cost.
 */

import { performance } from "node:perf_hooks";
import { TriggerTable } from "../src/detect/trigger.js";
import { LIMITS } from "../src/limits.js";

const records = Number(process.argv[2] ?? 1_000_000);
const CHUNK = 100_000;
const MIB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

/** xorshift32: deterministic, cheap, good enough for spread-out addresses. */
let seed = 0x2545f491;
function next(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

/** Every other key IPv6 (eight random groups, the shape of a forged source), else IPv4. */
function makeKeys(count: number, offset: number): string[] {
  const keys = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    if ((offset + i) % 2 === 0) {
      const n = next();
      keys[i] = `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    } else {
      const g: string[] = [];
      for (let j = 0; j < 4; j++) {
        const n = next();
        g.push((n >>> 16).toString(16), (n & 0xffff).toString(16));
      }
      keys[i] = g.join(":");
    }
  }
  return keys;
}

interface Memory {
  readonly heapMiB: number;
  readonly rssMiB: number;
}

function memory(): Memory {
  gc?.();
  const m = process.memoryUsage();
  return { heapMiB: m.heapUsed / MIB, rssMiB: m.rss / MIB };
}

function main(): void {
  if (gc === undefined)
    console.log("# run node with --expose-gc for memory after GC; figures below include garbage");
  const table = new TriggerTable({ scanTrigger: 3, maxSources: LIMITS.maxSources, windowMs: 600_000 });
  const base = memory();
  console.log(
    `trigger-table: ${records} new sources (half IPv4, half IPv6), capacity ${LIMITS.maxSources}, node ${process.version}`,
  );
  console.log(`baseline        heap ${base.heapMiB.toFixed(1)} MiB  rss ${base.rssMiB.toFixed(1)} MiB`);
  console.log("records   ns/record  tracked  evictions  heapUsed(MiB)  rss(MiB)");
  let nowMs = 0;
  let totalNs = 0;
  let fillNs = 0;
  let evictNs = 0;
  const samples: { records: number; nsPerRecord: number; heapMiB: number; rssMiB: number }[] = [];
  for (let done = 0; done < records; ) {
    const n = Math.min(CHUNK, records - done);
    let keys: string[] | undefined = makeKeys(n, done);
    // Timed in two parts where the chunk crosses the capacity: filling vs. evicting.
    const fillEnd = Math.max(0, Math.min(n, LIMITS.maxSources - done));
    const t0 = performance.now();
    for (let i = 0; i < fillEnd; i++) {
      nowMs += 0.001; // a million records a second: the window never expires
      table.record(keys[i] as string, nowMs);
    }
    const t1 = performance.now();
    for (let i = fillEnd; i < n; i++) {
      nowMs += 0.001;
      table.record(keys[i] as string, nowMs);
    }
    const t2 = performance.now();
    const ns = (t2 - t0) * 1e6;
    fillNs += (t1 - t0) * 1e6;
    evictNs += (t2 - t1) * 1e6;
    keys = undefined;
    totalNs += ns;
    done += n;
    const m = memory();
    const st = table.stats();
    samples.push({ records: done, nsPerRecord: ns / n, heapMiB: m.heapMiB, rssMiB: m.rssMiB });
    console.log(
      `${String(done).padStart(7)}  ${(ns / n).toFixed(0).padStart(9)}  ${String(st.tracked).padStart(7)}  ${String(st.evictions).padStart(9)}  ${m.heapMiB.toFixed(1).padStart(13)}  ${m.rssMiB.toFixed(1).padStart(8)}`,
    );
  }
  const full = samples.filter((s) => s.records > LIMITS.maxSources);
  const heaps = full.map((s) => s.heapMiB);
  const rsses = full.map((s) => s.rssMiB);
  const last = samples.at(-1);
  const summary = {
    bench: "trigger-table",
    records,
    capacity: LIMITS.maxSources,
    nsPerRecordAvg: Math.round(totalNs / records),
    nsPerRecordFilling: Math.round(fillNs / Math.min(records, LIMITS.maxSources)),
    nsPerRecordFullTable: Math.round(evictNs / Math.max(1, records - LIMITS.maxSources)),
    heapFullMinMiB: round1(Math.min(...heaps)),
    heapFullMaxMiB: round1(Math.max(...heaps)),
    rssFullMinMiB: round1(Math.min(...rsses)),
    rssFullMaxMiB: round1(Math.max(...rsses)),
    bytesPerTrackedSource:
      last === undefined
        ? null
        : Math.round(((last.heapMiB - base.heapMiB) * MIB) / Math.min(records, LIMITS.maxSources)),
    gcExposed: gc !== undefined,
  };
  console.log(JSON.stringify(summary));
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

main();
