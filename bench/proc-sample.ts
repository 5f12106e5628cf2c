/** CPU and memory of a process from /proc, for the benchmarks. */

import { readFileSync } from "node:fs";

/** USER_HZ on Linux: the unit of utime/stime in /proc/PID/stat. */
export const CLK_TCK = 100;

export interface ProcSample {
  /** utime + stime. */
  readonly cpuTicks: number;
  /** stime alone: the kernel's share (packet socket reads, syscalls). */
  readonly sysTicks: number;
  readonly rssKiB: number;
  /** Peak RSS (VmHWM). */
  readonly hwmKiB: number;
  /**
   * Proportional set size: shared pages (node's own code, which every node process maps)
   * divided among the processes that map them, so that PSS values add up.
   */
  readonly pssKiB: number;
}

/** Fields after "pid (comm) ": the command may hold spaces, so split after its last ")". */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

export function sampleProc(pid: number): ProcSample {
  const fields = statFields(pid);
  // utime and stime are fields 14 and 15, indexes 11 and 12 after "pid (comm) ".
  const sysTicks = Number(fields[12]);
  const cpuTicks = Number(fields[11]) + sysTicks;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const pssKiB = Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
  return { cpuTicks, sysTicks, rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), pssKiB };
}

/**
 * The machine's interrupt and softirq ticks (all CPUs, /proc/stat): where the kernel receives
 * packets, runs netfilter (connection tracking, the trap's rules) and libpcap's packet sockets,
 * in whatever process was on the CPU. Shared with anything else the machine does.
 */
export function softirqTicks(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]?.split(/\s+/) ?? [];
  // cpu user nice system idle iowait irq softirq ...
  return Number(cpu[6]) + Number(cpu[7]);
}
