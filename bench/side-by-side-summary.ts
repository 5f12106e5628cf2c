/**
 * Medians and ranges of a side-by-side series (bench/netns/side-by-side.sh): one row per figure,
 * one column per daemon. Usage: node dist/bench/side-by-side-summary.js OUT.jsonl
 */

import { readFileSync } from "node:fs";

type Row = Record<string, unknown>;

const FIGURES: readonly { label: string; pick: (r: Row) => number | undefined }[] = [
  { label: "idle: CPU %", pick: (r) => when(r, "idle", undefined, "idle_cpu_pct") },
  { label: "idle: RSS MiB", pick: (r) => kib(when(r, "idle", undefined, "vmrss_kb")) },
  { label: "idle: exec → ready ms", pick: (r) => when(r, "idle", undefined, "ready_ms") },
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
