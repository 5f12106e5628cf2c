/**
 * Kernel trap vs userspace path: how many answers leave the target after the first probe to a
 * trap port, how long until the scanner is blocked, and how long until the daemon side knows,
 * under the same fast scan: `nmap -sS -T5 --min-rate 3000 --max-retries 0 -Pn -n -p 1-20000`.
 *
 * - kernel: the trap rules and the NFLOG sensor (test/helpers/kernel-trap-runner.ts), as the
 *   daemon will run them with KERNEL_TRAP="1";
 * - userspace: the real daemon (dist/src/cli/main.js) with KERNEL_TRAP="0", KILL_FIREWALL=
 *   "nftables": capture sensor → pipeline → nft set.
 *
 * Per run: a tcpdump on the target's interface gives the capture time of the first trap
 * probe (t0) and every answer; `answersAfterTrap` are answers to probes that arrived after t0,
 * `blockMs` the arrival of the last answered probe after t0 (0: the first trap probe itself
 * found the door shut), `recordMs` t0 → the hit (kernel) or the "blocked via nftables" line
 * (userspace) reached the bench. Modes: -atcp (every port below 1024) and -stcp (1.2's list).
 *
 * Run as root: node dist/bench/kernel-trap.bench.js [runs per case, default 3]
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { candidatePorts, type StealthMode } from "../src/port-set.js";
import { testConfig } from "../test/helpers/config.js";
import { MAIN_JS, READY, REPO_ROOT, writeDaemonFiles } from "../test/helpers/daemon.js";
import type { KernelTrapRunnerSpec } from "../test/helpers/kernel-trap-runner.js";
import { countProbeAnswers } from "../test/helpers/probe-answers.js";
import { startRecording, stopRecording } from "../test/helpers/recording.js";
import { fastNmapScan } from "../test/helpers/scans.js";
import { createLab, type Lab, type LabProcess } from "../test/netns/netns.js";

const RUNS = Number(process.argv[2] ?? 3);
const RUNNER_JS = join(REPO_ROOT, "dist/test/helpers/kernel-trap-runner.js");
const TCP_12 = [
  1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 5742, 6667, 12345, 12346, 20034, 27665, 31337,
  32771, 32772, 32773, 32774, 40421, 49724, 54320,
];

interface RunFigures {
  readonly answers: number;
  readonly answersAfterTrap: number;
  readonly blockMs: number;
  readonly recordMs: number;
  readonly nmapMs: number;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
}

/** Wall-clock time (ms) at which `proc`'s output first matched `pattern`. */
function whenOutput(proc: LabProcess, pattern: RegExp): { at: () => number | undefined } {
  let at: number | undefined;
  const check = () => {
    if (at === undefined && pattern.test(proc.stderr + proc.stdout)) at = Date.now();
  };
  proc.events.on("output", check);
  return { at: () => at };
}

async function scanOnce(
  lab: Lab,
  dir: string,
  mode: StealthMode,
  path: "kernel" | "userspace",
): Promise<RunFigures> {
  const scanner = lab.scanner(1);
  const config = testConfig("/nonexistent", { tcpPorts: TCP_12, kernelTrap: true, killFirewall: "nftables" });
  const traps = candidatePorts(mode, config);
  const processes: LabProcess[] = [];
  const files = await writeDaemonFiles({
    TCP_PORTS: TCP_12.join(","),
    KILL_FIREWALL: "nftables",
    KERNEL_TRAP: "0",
    BLOCK_TCP: "1",
    BLOCK_UDP: "0",
  });
  try {
    let recordedAt: () => number | undefined;
    if (path === "kernel") {
      const spec: KernelTrapRunnerSpec = { modes: [mode], config: { tcpPorts: TCP_12 } };
      const runner = lab.spawn(lab.target, ["node", RUNNER_JS, JSON.stringify(spec)]);
      processes.push(runner);
      await lab.waitForOutput(runner, "kernel-trap-runner: armed", 15_000, "stderr");
      recordedAt = whenOutput(runner, new RegExp(`"address":"${scanner.v4}"`)).at;
    } else {
      const daemon = lab.spawn(lab.target, ["node", MAIN_JS, "-c", files.conf, `-${mode}`]);
      processes.push(daemon);
      await lab.waitForOutput(daemon, READY, 20_000, "stderr");
      recordedAt = whenOutput(
        daemon,
        new RegExp(`Host ${scanner.v4.replaceAll(".", "\\.")} has been blocked via nftables`),
      ).at;
    }
    const file = join(dir, `${path}-${mode}-${Date.now()}.pcap`);
    const dump = await startRecording(lab, lab.target, lab.target.iface, file, {
      options: ["-s", "200"],
      filter: ["host", scanner.v4],
    });
    processes.push(dump);
    const nmap = await lab.exec(scanner, fastNmapScan("-sS", 4, lab.target.v4), { timeoutMs: 90_000 });
    await lab.waitFor(() => recordedAt(), { timeoutMs: 10_000, what: `${path} record of the block` });
    await stopRecording(dump);
    const count = countProbeAnswers(
      new Uint8Array(await readFile(file)),
      lab.target.v4,
      scanner.v4,
      (proto, port) => proto === 6 && traps[port] === 1,
    );
    if (count.firstTrapProbeUs === undefined) throw new Error(`no trap probe seen: ${JSON.stringify(count)}`);
    return {
      answers: count.answers,
      answersAfterTrap: count.answersAfterTrap,
      blockMs: count.leakWindowMs,
      recordMs: (recordedAt() ?? Number.NaN) - count.firstTrapProbeUs / 1000,
      nmapMs: nmap.durationMs,
    };
  } finally {
    for (const p of processes.reverse()) await p.stop(3000);
    await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
    await files.remove();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root: creates network namespaces and nft tables");
  const lab = await createLab({ name: "psktbench", hosts: 1 });
  const dir = await mkdtemp(join(tmpdir(), "pskt-bench-"));
  try {
    const results: Record<string, unknown>[] = [];
    for (const mode of ["atcp", "stcp"] as const) {
      for (const path of ["kernel", "userspace"] as const) {
        const runs: RunFigures[] = [];
        for (let i = 0; i < RUNS; i++) runs.push(await scanOnce(lab, dir, mode, path));
        const fig = (k: keyof RunFigures) => Number(median(runs.map((r) => r[k])).toFixed(2));
        results.push({
          mode,
          path,
          runs: RUNS,
          answers_after_first_trap_probe_median: fig("answersAfterTrap"),
          answers_after_first_trap_probe_max: Math.max(...runs.map((r) => r.answersAfterTrap)),
          answers_total_median: fig("answers"),
          block_ms_median: fig("blockMs"),
          record_ms_median: fig("recordMs"),
          nmap_ms_median: fig("nmapMs"),
        });
      }
    }
    console.log(
      JSON.stringify(
        {
          bench: "kernel-trap",
          nmap: fastNmapScan("-sS", 4, "TARGET").slice(2).join(" "),
          results,
        },
        null,
        1,
      ),
    );
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
