/**
 * Medians and ranges of a side-by-side series (bench/netns/side-by-side.sh): one row per figure,
 * one column per daemon. Usage: node dist/bench/side-by-side-summary.js OUT.jsonl
 */

import { readFileSync } from "node:fs";

type Row = Record<string, unknown>;

const FIGURES: readonly { label: string; pick: (r: Row) => number | undefined }[] = [
  { label: "idle, log only: CPU %", pick: (r) => idle(r, 0, "idle_cpu_pct") },
  { label: "idle, log only: RSS MiB", pick: (r) => kib(idle(r, 0, "vmrss_kb")) },
  { label: "idle, log only: exec → ready ms", pick: (r) => idle(r, 0, "ready_ms") },
  { label: "idle, blocking: CPU %", pick: (r) => idle(r, 1, "idle_cpu_pct") },
  { label: "idle, blocking: RSS MiB", pick: (r) => kib(idle(r, 1, "vmrss_kb")) },
  { label: "idle, blocking: exec → ready ms", pick: (r) => idle(r, 1, "ready_ms") },
  { label: "flood: offered kpps", pick: (r) => kpps(r) },
  { label: "flood: CPU % of a core", pick: (r) => when(r, "flood", undefined, "avg_cpu_pct") },
  { label: "flood: peak RSS MiB", pick: (r) => kib(when(r, "flood", undefined, "peak_rss_kb")) },
  { label: "flood: events logged", pick: (r) => when(r, "flood", undefined, "events_logged") },
  { label: "benign idle: CPU %", pick: (r) => when(r, "benign", "idle", "avg_cpu_pct") },
  { label: "benign syn: CPU %", pick: (r) => when(r, "benign", "syn", "avg_cpu_pct") },
  { label: "benign est: CPU %", pick: (r) => when(r, "benign", "est", "avg_cpu_pct") },
  { label: "benign: events logged", pick: (r) => when(r, "benign", "syn", "events_logged") },
];

function when(r: Row, scenario: string, phase: string | undefined, field: string): number | undefined {
  if (r.scenario !== scenario || r.reference !== undefined) return undefined;
  if (phase !== undefined && r.phase !== phase) return undefined;
  const v = r[field];
  return typeof v === "number" ? v : undefined;
}

/** idle.sh's figures at BLOCK_*=`block` (side-by-side.sh's `block`; absent in older series: 0). */
function idle(r: Row, block: number, field: string): number | undefined {
  return (r.block ?? 0) === block ? when(r, "idle", undefined, field) : undefined;
}

function kib(v: number | undefined): number | undefined {
  return v === undefined ? undefined : v / 1024;
}

function kpps(r: Row): number | undefined {
  const rx = when(r, "flood", undefined, "target_rx_packets");
  const secs = when(r, "flood", undefined, "flood_s");
  return rx === undefined || secs === undefined || secs <= 0 ? undefined : rx / secs / 1000;
}

function summary(values: readonly number[]): string {
  if (values.length === 0) return "–";
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  const f = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));
  const first = s[0] as number;
  const last = s.at(-1) as number;
  return s.length === 1 ? f(median) : `${f(median)} (${f(first)}–${f(last)}, n=${s.length})`;
}

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: side-by-side-summary OUT.jsonl");
  process.exit(2);
}
const rows: Row[] = [];
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line.startsWith("{")) continue;
  try {
    rows.push(JSON.parse(line) as Row);
  } catch {
    // a torn line from an interrupted run: skipped
  }
}
const daemons = [...new Set(rows.map((r) => String(r.daemon)))];
console.log(`| figure | ${daemons.join(" | ")} |`);
console.log(`|---|${daemons.map(() => "---").join("|")}|`);
for (const { label, pick } of FIGURES) {
  const cells = daemons.map((d) => summary(rows.filter((r) => r.daemon === d).flatMap((r) => pick(r) ?? [])));
  console.log(`| ${label} | ${cells.join(" | ")} |`);
}
