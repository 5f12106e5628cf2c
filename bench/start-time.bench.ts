/**
 * Start time and memory at rest of the daemon as shipped (KERNEL_TRAP="1", nftables, the
 * systemd unit's modes -atcp -audp, the installed command's node flags), in a namespace lab
 * (root only):
 *
 *   bash scripts/build.sh && node dist/bench/start-time.bench.js [runs=5]
 *
 * For each run: exec → the readiness line on stderr (wall ms, including `ip netns exec`), then
 * after 3 s at rest the resident memory (VmRSS) and its parts from /proc/PID/smaps (the node
 * binary and shared libraries, the capture ring, malloc, V8 and other anonymous memory), and
 * the context switches of all threads and CPU ticks over the next 30 s (0 with `idleSeconds=0`).
 * Prints median and range of each figure.
 */

import { readFile } from "node:fs/promises";
import { READY, shippedArgv, writeDaemonFiles } from "../test/helpers/daemon.js";
import { contextSwitches, passTime } from "../test/helpers/proc.js";
import { createLab } from "../test/netns/netns.js";
import { CLK_TCK } from "./proc-sample.js";

const runs = Number(process.argv[2] ?? 5);
const idleSeconds = Number(process.argv[3] ?? 30);

async function cpuTicks(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident KiB of the process by kind of mapping. */
async function rssParts(pid: number): Promise<Record<string, number>> {
  const parts: Record<string, number> = {};
  let mapping = "";
  for (const line of (await readFile(`/proc/${pid}/smaps`, "utf8")).split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapping = line;
    const m = /^Rss:\s+(\d+)/.exec(line);
    if (m === null) continue;
    const kind = mapping.includes("socket:")
      ? "capture ring"
      : mapping.endsWith("/node")
        ? "node binary"
        : mapping.includes(".node")
          ? "addons"
          : /\.so/.test(mapping)
            ? "shared libs"
            : mapping.includes("[heap]")
              ? "malloc"
              : "V8 and other anonymous";
    parts[kind] = (parts[kind] ?? 0) + Number(m[1]);
  }
  return parts;
}

function summary(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)] ?? Number.NaN;
  return `median ${median.toFixed(1)} (${(s[0] ?? Number.NaN).toFixed(1)}–${(s.at(-1) ?? Number.NaN).toFixed(1)})`;
}

const lab = await createLab({ name: "psstart", hosts: 1 });
const files = await writeDaemonFiles({
  KILL_FIREWALL: "nftables",
  KERNEL_TRAP: "1",
  BLOCK_TCP: "1",
  BLOCK_UDP: "1",
});
const figures: Record<string, number[]> = {};
const add = (name: string, v: number): void => {
  const values = figures[name] ?? [];
  values.push(v);
  figures[name] = values;
};
try {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const d = lab.spawn(lab.target, shippedArgv(files.conf));
    try {
      await lab.waitForOutput(d, new RegExp(`${READY}|ERROR`), 20_000, "stderr");
      add("exec → ready, ms", performance.now() - t0);
      const pid = d.child.pid;
      if (pid === undefined || !d.stderr.includes(READY)) throw new Error(`not ready:\n${d.tail()}`);
      await passTime(3_000);
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      add("RSS at rest, MiB", Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024);
      for (const [kind, kib] of Object.entries(await rssParts(pid)))
        add(`  of which ${kind}, MiB`, kib / 1024);
      if (idleSeconds > 0) {
        const [c0, t1] = [await contextSwitches(pid), await cpuTicks(pid)];
        await passTime(idleSeconds * 1000);
        add("context switches a second at rest", ((await contextSwitches(pid)) - c0) / idleSeconds);
        add("CPU at rest, %", (((await cpuTicks(pid)) - t1) / CLK_TCK / idleSeconds) * 100);
      }
    } finally {
      await d.stop();
    }
  }
  for (const [name, values] of Object.entries(figures)) console.log(`${name}: ${summary(values)}`);
} finally {
  await lab.destroy();
  await files.remove();
}
