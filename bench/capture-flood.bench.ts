/**
 * The stealth capture under load, in a namespace lab (root only):
 *
 *   npx tsc -p . && node dist/bench/capture-flood.bench.js [floodSeconds=5]
 *
 * 1. Latency: 200 single SYN probes, 10 ms apart → kernel capture time to onHit, median/p99.
 * 2. Flood: `hping3 -S --flood --rand-source` to a watched port for `floodSeconds`, twice:
 *    with a default route in the target (the kernel's RSTs go out: the usual case, no /proc
 *    read) and without one (RSTs cannot be routed: every probe takes the /proc path).
 *    Reports packets offered (the target veth's rx counter), frames seen by the capture, hits,
 *    kernel drops, CPU of the sensor's process (utime+stime from /proc/PID/stat), and resident
 *    memory (now and peak).
 * 3. Benign: a bulk TCP transfer to a real service plus a SYN flood to an unwatched port:
 *    the sensor's CPU (target ≤ 1 %).
 */

import { join } from "node:path";
import type { CaptureSensorStats } from "../src/sensors/capture-sensor.js";
import { REPO_ROOT } from "../test/helpers/daemon.js";
import { createLab, type Lab, type LabProcess, type ScannerHost } from "../test/netns/netns.js";
import { CLK_TCK, type ProcSample, sampleProc } from "./proc-sample.js";

const RUNNER_JS = join(REPO_ROOT, "dist/test/helpers/capture-runner.js");
const floodSeconds = Number(process.argv[2] ?? 5);
const WATCHED = 1;
const SINK_JS = `require("net").createServer(c=>{c.resume();c.on("error",()=>{})}).listen(8080,()=>console.log("LISTENING"))`;
const BULK_JS = `const c=require("net").connect(8080,process.argv[1]);const b=Buffer.alloc(1<<16);const end=Date.now()+Number(process.argv[2]);let n=0;const w=()=>{while(Date.now()<end){n+=b.length;if(!c.write(b))return c.once("drain",w)}c.end(()=>console.log("BYTES",n))};c.on("connect",w);c.on("error",e=>console.log("ERROR",e.code))`;

async function stats(lab: Lab, runner: LabProcess): Promise<CaptureSensorStats> {
  const count = runner.stdout.split("\n").filter((l) => l.startsWith('{"stats"')).length;
  process.kill(runner.pid!, "SIGUSR2");
  const line = await lab.waitFor(
    () => runner.stdout.split("\n").filter((l) => l.startsWith('{"stats"'))[count],
    {
      timeoutMs: 3000,
      what: "stats line",
    },
  );
  return (JSON.parse(line) as { stats: CaptureSensorStats }).stats;
}

async function rxPackets(lab: Lab, iface: string): Promise<number> {
  const r = await lab.execOk(lab.target, ["cat", `/sys/class/net/${iface}/statistics/rx_packets`]);
  return Number(r.stdout.trim());
}

interface Window {
  readonly seconds: number;
  readonly cpuPct: number;
  readonly end: ProcSample;
}

async function measure(pid: number, work: () => Promise<void>): Promise<Window> {
  const r0 = sampleProc(pid);
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const r1 = sampleProc(pid);
  return { seconds, cpuPct: (100 * (r1.cpuTicks - r0.cpuTicks)) / CLK_TCK / seconds, end: r1 };
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("capture-flood: needs root (creates network namespaces); skipped");
    return;
  }
  const lab = await createLab({ name: "pscapbench", hosts: 2 });
  let runnerProc: LabProcess | undefined;
  try {
    const [s1, s2] = lab.scanners as [ScannerHost, ScannerHost];
    const sink = lab.spawn(lab.target, ["node", "-e", SINK_JS]);
    await lab.waitForOutput(sink, "LISTENING", 5000, "stdout");
    const runner = lab.spawn(lab.target, [
      "node",
      RUNNER_JS,
      JSON.stringify({
        modes: ["stcp"],
        config: { tcpPorts: [WATCHED, 11, 143] },
        quiet: true,
      }),
    ]);
    runnerProc = runner;
    await lab.waitForOutput(runner, "capture-runner: armed", 20_000, "stderr");
    const pid = runner.pid!;
    console.log(`capture-flood: sensor armed; idle RSS ${mib(sampleProc(pid).rssKiB)}`);

    // 1. Latency of single probes.
    await lab.execOk(
      s1,
      [
        "timeout",
        "10",
        "hping3",
        "-q",
        "-S",
        "-p",
        String(WATCHED),
        "-i",
        "u10000",
        "-c",
        "200",
        lab.target.v4,
      ],
      {
        timeoutMs: 15_000,
      },
    );
    const lat = await stats(lab, runner);
    console.log(
      `latency (200 SYN probes, 10 ms apart): capture → onHit median ${(lat.latency.p50Us / 1000).toFixed(2)} ms, ` +
        `p99 ${(lat.latency.p99Us / 1000).toFixed(2)} ms, max ${(lat.latency.maxUs / 1000).toFixed(2)} ms ` +
        `(hits ${lat.hits}, answered by the kernel's RST ${lat.replies}, /proc reads ${lat.listenerReads})`,
    );

    // 2. Floods.
    const peer = lab.scanners[0]!.peerIface;
    for (const routed of [true, false]) {
      if (routed) await lab.execOk(lab.target, ["ip", "route", "add", "default", "via", s2.v4]);
      const before = await stats(lab, runner);
      const rx0 = await rxPackets(lab, peer);
      let sent = "";
      const w = await measure(pid, async () => {
        const r = await lab.exec(
          s1,
          [
            "timeout",
            "-s",
            "INT",
            String(floodSeconds),
            "hping3",
            "-S",
            "--flood",
            "--rand-source",
            "-p",
            String(WATCHED),
            lab.target.v4,
          ],
          { timeoutMs: (floodSeconds + 10) * 1000 },
        );
        sent = /(\d+) packets transmitted/.exec(r.stdout + r.stderr)?.[1] ?? "?";
        // Let the sensor drain what is queued before the window closes.
        let last = -1;
        for (;;) {
          const s = await stats(lab, runner);
          if (s.hits === last) break;
          last = s.hits;
        }
      });
      const rx = (await rxPackets(lab, peer)) - rx0;
      const after = await stats(lab, runner);
      const hits = after.hits - before.hits;
      if (after.generation !== before.generation || after.restarts !== before.restarts) {
        console.log(
          `  (capture replaced during the run: generation ${before.generation} → ${after.generation})`,
        );
      }
      console.log(
        `flood ${routed ? "(RSTs routed: kernel answers)" : "(no route: /proc path)"}: ` +
          `hping3 sent ${sent}, target veth rx ${rx} (${Math.round(rx / floodSeconds)} pkt/s), ` +
          `frames ${after.frames - before.frames}, candidates ${after.candidates - before.candidates}, ` +
          `hits ${hits} (${((100 * hits) / Math.max(rx, 1)).toFixed(2)} % of rx), ` +
          `kernel drops ${after.kernelDropped - before.kernelDropped}, ` +
          `verify-backlog ${(after.drops["verify-backlog"] ?? 0) - (before.drops["verify-backlog"] ?? 0)}, ` +
          `/proc reads ${after.listenerReads - before.listenerReads}; ` +
          `CPU over ${w.seconds.toFixed(1)} s: ${w.cpuPct.toFixed(1)} % of a core; ` +
          `RSS ${mib(w.end.rssKiB)} (peak ${mib(w.end.hwmKiB)}); ` +
          `latency under flood median ${(after.latency.p50Us / 1000).toFixed(1)} ms, p99 ${(after.latency.p99Us / 1000).toFixed(1)} ms`,
      );
      if (routed) await lab.execOk(lab.target, ["ip", "route", "del", "default"]);
    }

    // 3. Benign traffic.
    const before = await stats(lab, runner);
    const w = await measure(pid, async () => {
      const flood = lab.exec(
        s1,
        [
          "timeout",
          "-s",
          "INT",
          String(floodSeconds),
          "hping3",
          "-q",
          "-S",
          "--flood",
          "-p",
          "8081",
          lab.target.v4,
        ],
        { timeoutMs: (floodSeconds + 10) * 1000 },
      );
      const bulk = await lab.execOk(s2, ["node", "-e", BULK_JS, lab.target.v4, String(floodSeconds * 1000)], {
        timeoutMs: (floodSeconds + 10) * 1000,
      });
      await flood;
      console.log(
        `benign: bulk transfer ${(Number(/BYTES (\d+)/.exec(bulk.stdout)?.[1] ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );
    });
    const after = await stats(lab, runner);
    console.log(
      `benign (bulk TCP to a real service + SYN flood to an unwatched port, ${w.seconds.toFixed(1)} s): ` +
        `frames ${after.frames - before.frames}, hits ${after.hits - before.hits}; ` +
        `CPU ${w.cpuPct.toFixed(2)} % of a core`,
    );
    await runner.stop(3000);
    await sink.stop();
  } catch (err) {
    console.error(err);
    if (runnerProc) console.error(`runner stderr:\n${runnerProc.stderr.slice(-1500)}`);
    process.exitCode = 1;
  } finally {
    await lab.destroy();
  }
}

void main();
