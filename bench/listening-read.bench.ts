/**
 * What one read of the listening ports costs: /proc/net/{tcp,udp}[6] parsed, against one
 * NETLINK_SOCK_DIAG dump (native/sock_diag.c), per protocol. Prints the median and p90 of
 * `reads` synchronous reads each, after 10 unmeasured ones, and how many ports each found.
 *
 *   npm run build && node dist/bench/listening-read.bench.js [reads=200]
 *
 * The /proc read of TCP walks the kernel's whole established hash, so its cost depends on the
 * host's memory (the hash's size), not on its sockets; the dump walks only the listening hash.
 */

import { performance } from "node:perf_hooks";
import { portList } from "../src/port-set.js";
import { type ListenProto, readListeningProc } from "../src/sensors/listening.js";
import { readListeningDiag } from "../src/sensors/sock-diag.js";
import type { PortBitmap } from "../src/vocabulary.js";

const reads = Number(process.argv[2] ?? 200);

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function measure(read: () => PortBitmap): { medianUs: number; p90Us: number; ports: number } {
  for (let i = 0; i < 10; i++) read();
  const times: number[] = [];
  let last: PortBitmap | undefined;
  for (let i = 0; i < reads; i++) {
    const start = performance.now();
    last = read();
    times.push((performance.now() - start) * 1000);
  }
  times.sort((a, b) => a - b);
  return { medianUs: quantile(times, 0.5), p90Us: quantile(times, 0.9), ports: portList(last!).length };
}

for (const proto of ["tcp", "udp"] as const satisfies readonly ListenProto[]) {
  const proc = measure(() => readListeningProc(proto));
  const diag = measure(() => readListeningDiag(proto));
  const line = (how: string, r: typeof proc): string =>
    `${proto} ${how.padEnd(9)} median ${r.medianUs.toFixed(1).padStart(8)} µs  p90 ${r.p90Us.toFixed(1).padStart(8)} µs  (${r.ports} ports)`;
  console.log(line("/proc", proc));
  console.log(line("sock_diag", diag));
  console.log(`${proto} /proc ÷ sock_diag: ${(proc.medianUs / diag.medianUs).toFixed(1)}×`);
}
