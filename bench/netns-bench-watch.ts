/**
 * Runs beside netns-bench (/work/shared/bench/netns-bench) and reports what the harness cannot
 * see: the daemon's own counters (`status` over its control socket: hits, frames, kernelDrops,
 * logSuppressed...), and its CPU over the busy window only.
 *
 *   node dist/bench/netns-bench-watch.js [namespace=psb-target] [maxSeconds=900] &
 *   /work/shared/bench/netns-bench/run.sh flood -- node dist/src/cli/main.js -c {CONF} ...
 *
 * Every 250 ms it looks for `main.js ... -c CONF MODE` inside the namespace, then samples it
 * until the daemon exits, and prints one JSON line per daemon: CPU seconds and peak RSS, CPU %
 * over the busy window (from the first to the last sample in which frames or hits grew), and
 * the last counters read. Stops after maxSeconds or on SIGTERM/SIGINT.
 */

import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { request } from "../src/control/client.js";
import { socketPathFor } from "../src/control/protocol.js";

const namespace = process.argv[2] ?? "psb-target";
const maxSeconds = Number(process.argv[3] ?? 900);
const TICK_MS = 250;
const CLK_TCK = 100;
const MODE_FLAGS = new Set(["-tcp", "-udp", "-stcp", "-sudp", "-atcp", "-audp"]);

interface Sample {
  readonly tMs: number;
  readonly daemonTicks: number;
  readonly counters: Readonly<Record<string, number>> | undefined;
}

interface Tracked {
  readonly pid: number;
  readonly conf: string;
  readonly socketPath: string;
  readonly samples: Sample[];
  daemonHwmKiB: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function procStat(pid: number): { ticks: number; ppid: number } | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ticks: Number(f[11]) + Number(f[12]), ppid: Number(f[1]) };
}

function hwmKiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  return Number(/^VmHWM:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? "")?.[1] ?? 0);
}

function pids(): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** The namespace's inode, to recognise its processes by /proc/PID/ns/net. */
function namespaceInode(): number | undefined {
  try {
    return statSync(`/var/run/netns/${namespace}`).ino;
  } catch {
    return undefined;
  }
}

function findDaemon(nsIno: number): Tracked | undefined {
  for (const pid of pids()) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== `net:[${nsIno}]`) continue;
    } catch {
      continue;
    }
    const argv = (readText(`/proc/${pid}/cmdline`) ?? "").split("\0");
    if (!argv.some((a) => a.endsWith("cli/main.js")) || !argv.some((a) => MODE_FLAGS.has(a))) continue;
    const conf = argv[argv.indexOf("-c") + 1];
    if (argv.indexOf("-c") < 0 || conf === undefined) continue;
    const stateDir = /^STATE_DIR\s*=\s*"([^"]*)"/m.exec(readText(conf) ?? "")?.[1] ?? "/var/lib/portsentry";
    return {
      pid,
      conf,
      socketPath: socketPathFor(stateDir),
      samples: [],
      daemonHwmKiB: 0,
    };
  }
  return undefined;
}

async function sampleOnce(t: Tracked): Promise<boolean> {
  const d = procStat(t.pid);
  if (d === undefined) return false;
  t.daemonHwmKiB = Math.max(t.daemonHwmKiB, hwmKiB(t.pid));
  const r = await request(t.socketPath, "status", [], 1000);
  t.samples.push({
    tMs: performance.now(),
    daemonTicks: d.ticks,
    counters: r.ok ? r.result.counters : undefined,
  });
  return true;
}

function report(t: Tracked): void {
  const s = t.samples;
  const first = s[0];
  const last = s.at(-1);
  if (first === undefined || last === undefined) return;
  const progress = (a: Sample, b: Sample) =>
    (b.counters?.frames ?? 0) + (b.counters?.hits ?? 0) > (a.counters?.frames ?? 0) + (a.counters?.hits ?? 0);
  let from: number | undefined;
  let to: number | undefined;
  for (let i = 1; i < s.length; i++) {
    if (!progress(s[i - 1] as Sample, s[i] as Sample)) continue;
    from ??= i - 1;
    to = i;
  }
  const pct = (ticks: number, ms: number) =>
    ms > 0 ? Math.round(((100 * ticks) / CLK_TCK / (ms / 1000)) * 10) / 10 : null;
  const busy =
    from === undefined || to === undefined
      ? {}
      : (() => {
          const a = s[from] as Sample;
          const b = s[to] as Sample;
          const ms = b.tMs - a.tMs;
          return {
            busyS: Math.round(ms) / 1000,
            busyDaemonCpuPct: pct(b.daemonTicks - a.daemonTicks, ms),
          };
        })();
  const counters = [...s].reverse().find((x) => x.counters !== undefined)?.counters ?? {};
  console.log(
    JSON.stringify({
      watch: "netns-bench",
      rundir: dirname(t.conf),
      daemonPid: t.pid,
      sampledS: Math.round(last.tMs - first.tMs) / 1000,
      daemonCpuS: (last.daemonTicks - first.daemonTicks) / CLK_TCK,
      ...busy,
      daemonPeakRssMiB: Math.round((t.daemonHwmKiB / 1024) * 10) / 10,
      counters,
    }),
  );
}

async function main(): Promise<void> {
  const deadline = performance.now() + maxSeconds * 1000;
  let stop = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (stop = true));
  let tracked: Tracked | undefined;
  while (!stop && performance.now() < deadline) {
    if (tracked === undefined) {
      const ino = namespaceInode();
      tracked = ino === undefined ? undefined : findDaemon(ino);
    }
    if (tracked !== undefined && !(await sampleOnce(tracked))) {
      report(tracked);
      tracked = undefined;
      continue;
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  if (tracked !== undefined) report(tracked);
}

await main();
