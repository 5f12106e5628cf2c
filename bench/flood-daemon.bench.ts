/**
 * The whole daemon (`portsentry -stcp -sudp`, log only) under a spoofed-source SYN flood, in a
 * namespace lab (root only):
 *
 *   npx tsc -p . && node dist/bench/flood-daemon.bench.js [floodSeconds=6] [runs=3]
 *   (DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon; SCAN_TRIGGER=3
 *   makes it count hits per source; SHIPPED=1 blocks as shipped: nftables, the kernel trap and
 *   probation; KERNEL=1 stays log only with the kernel trap on (the kernel counts every probe
 *   and reports a bounded rate of them, the capture is not open); FLEET=1 makes it a fleet
 *   member of a redis-server started in the target's namespace, so that the flood's hit
 *   reports go to Redis too: the Redis commands a second are printed after each run)
 *
 * netns-bench's `flood` scenario samples the daemon process only and counts log lines, which
 * the daemon rate-limits by design; this bench reads what the daemon itself counted (`status
 * --json` over the control socket: hits, frames, kernelDrops...) and the daemon's CPU and
 * memory (RSS and PSS; it is one process, the capture runs in it) from /proc.
 *
 * Each run, on a fresh daemon: first the latency of single probes (the first one meets a cold
 * daemon): the kernel's capture timestamp (tcpdump on the target's veth) to the moment the
 * attackalert line reaches this process through the daemon's stderr pipe; 20 TCP SYNs and 20
 * UDP datagrams, 20 ms apart, each from a new random forged source (per-source log limits never
 * hold one back; a default route takes the kernel's answers to a scanner).
 * Then `hping3 -S --flood --rand-source -p 1` for `floodSeconds`, twice: without a
 * route out of the target (as in netns-bench: the kernel's RSTs to forged sources cannot be
 * sent, so every probe is checked against /proc) and with a default route (the usual host: the
 * kernel's RST tells the daemon at once that nothing listens). Then benign traffic: a SYN flood
 * to an unwatched port, which the kernel filter should keep away from the daemon entirely.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { request } from "../src/control/client.js";
import { socketPathFor } from "../src/control/protocol.js";
import { installedNodeArgs, MAIN_JS, READY, writeDaemonFiles } from "../test/helpers/daemon.js";
import { writeRedisConf } from "../test/helpers/redis-server.js";
import { createLab, type Lab, type LabProcess, type ScannerHost } from "../test/netns/netns.js";
import { CLK_TCK, sampleProc, softirqTicks } from "./proc-sample.js";

const floodSeconds = Math.min(10, Number(process.argv[2] ?? 6));
const runs = Number(process.argv[3] ?? 3);
const TRAP_PORT = 1;
const BENIGN_PORT = 9999;
const SAMPLE_MS = 500;
/** SCAN_TRIGGER=N in the environment: above 1, every forged source takes a table entry. */
const scanTrigger = process.env.SCAN_TRIGGER ?? "0";
/** FLEET=1: the daemon is a fleet member (a redis-server in the target's namespace). */
const fleet = process.env.FLEET === "1";
/**
 * SHIPPED=1: blocking as shipped (nftables, the kernel trap, probation) instead of log only: the
 * kernel runs the modes, puts each forged source on probation and reports at a bounded rate.
 */
const shipped = process.env.SHIPPED === "1";
/** KERNEL=1: log only, with nftables and the kernel trap, which then observes the modes. */
const kernelObserves = process.env.KERNEL === "1";

/** Probes the daemon counted: its hits, or with the kernel observing the kernel's exact count. */
const counted = (d: Counters): number => (kernelObserves ? (d.kernelTrapProbes ?? 0) : (d.hits ?? 0));
/**
 * Node flags for the daemon: by default those the installed command starts it with (the first
 * line of dist/src/cli/main.js); e.g. DAEMON_NODE_ARGS="--max-semi-space-size=1 --cpu-prof
 * --cpu-prof-dir=/tmp/prof" profiles it.
 */
const nodeArgs = process.env.DAEMON_NODE_ARGS?.split(/\s+/).filter((a) => a !== "") ?? installedNodeArgs();

type Counters = Readonly<Record<string, number>>;

async function counters(socketPath: string): Promise<Counters> {
  const r = await request(socketPath, "status", [], 5000);
  if (!r.ok) throw new Error(`status: ${r.error.message}`);
  return r.result.counters;
}

async function rxPackets(lab: Lab, iface: string): Promise<number> {
  const r = await lab.execOk(lab.target, ["cat", `/sys/class/net/${iface}/statistics/rx_packets`]);
  return Number(r.stdout.trim());
}

interface Phase {
  readonly phase: string;
  readonly floodS: number;
  readonly sent: number;
  readonly offered: number;
  readonly offeredPps: number;
  readonly delta: Counters;
  readonly cpuPct: number;
  /** Of cpuPct, in the kernel (stime). */
  readonly sysPct: number;
  /** The whole machine's irq + softirq time, % of one core (packet receive, netfilter, conntrack). */
  readonly softirqPct: number;
  /** CPU time per offered packet, µs. */
  readonly cpuUsPerPacket: number;
  readonly cpuPctInclDrain: number;
  readonly peakRssMiB: number;
  /** Proportional set size: shared library pages counted by share. */
  readonly peakPssMiB: number;
  readonly rssEndMiB: number;
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const pct = (ticks: number, seconds: number) => Math.round(((100 * ticks) / CLK_TCK / seconds) * 10) / 10;

/** Floods from `scanner` and measures the daemon; `args` are hping3's. */
async function phase(
  lab: Lab,
  scanner: ScannerHost,
  pid: number,
  socketPath: string,
  name: string,
  args: readonly string[],
): Promise<Phase> {
  const before = await counters(socketPath);
  const rx0 = await rxPackets(lab, scanner.peerIface);
  const d0 = sampleProc(pid);
  let peakRss = d0.rssKiB;
  let peakPss = d0.pssKiB;
  const sampler = setInterval(() => {
    try {
      const d = sampleProc(pid);
      peakRss = Math.max(peakRss, d.rssKiB);
      peakPss = Math.max(peakPss, d.pssKiB);
    } catch {}
  }, SAMPLE_MS);
  const irq0 = softirqTicks();
  const t0 = performance.now();
  const r = await lab.exec(
    scanner,
    ["timeout", "-s", "INT", String(floodSeconds), "hping3", ...args, lab.target.v4],
    { timeoutMs: (floodSeconds + 10) * 1000 },
  );
  const floodS = (performance.now() - t0) / 1000;
  const d1 = sampleProc(pid);
  const irq1 = softirqTicks();
  const rx = (await rxPackets(lab, scanner.peerIface)) - rx0;
  // Drain: until the daemon's hit counter stops moving (at most 5 s).
  let last = -1;
  let after = await counters(socketPath);
  const drainDeadline = performance.now() + 5000;
  while (after.hits !== last && performance.now() < drainDeadline) {
    last = after.hits ?? 0;
    await new Promise((res) => setTimeout(res, 300));
    after = await counters(socketPath);
  }
  const drainS = (performance.now() - t0) / 1000;
  const d2 = sampleProc(pid);
  clearInterval(sampler);
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const dv = v - (before[k] ?? 0);
    if (dv !== 0) delta[k] = dv;
  }
  return {
    phase: name,
    floodS: Math.round(floodS * 1000) / 1000,
    sent: Number(/(\d+) packets transmitted/.exec(r.stdout + r.stderr)?.[1] ?? Number.NaN),
    offered: rx,
    offeredPps: Math.round(rx / floodS),
    delta,
    cpuPct: pct(d1.cpuTicks - d0.cpuTicks, floodS),
    sysPct: pct(d1.sysTicks - d0.sysTicks, floodS),
    softirqPct: pct(irq1 - irq0, floodS),
    cpuUsPerPacket: rx > 0 ? Math.round((((d2.cpuTicks - d0.cpuTicks) / CLK_TCK) * 1e8) / rx) / 100 : 0,
    cpuPctInclDrain: pct(d2.cpuTicks - d0.cpuTicks, drainS),
    peakRssMiB: mib(Math.max(peakRss, d2.rssKiB)),
    peakPssMiB: mib(Math.max(peakPss, d2.pssKiB)),
    rssEndMiB: mib(d2.rssKiB),
  };
}

const LATENCY_PROBES = 20;
const UDP_TRAP_PORT = 7;

interface Latency {
  /** The very first probe the daemon sees (TCP): cold code paths. */
  readonly firstMs: number;
  readonly tcpMedianMs: number;
  readonly tcpP90Ms: number;
  readonly udpMedianMs: number;
  readonly udpP90Ms: number;
  readonly maxMs: number;
  readonly measured: number;
  readonly missing: number;
  /** Random sources the kernel never answers (0/8, 127/8, 224/4 and up): the /proc path, left out. */
  readonly unanswerable: number;
}

/** A source no RST or ICMP error is sent to: its probe cannot be paired, it takes the /proc path. */
function unanswerable(ip: string): boolean {
  const first = Number(ip.split(".")[0]);
  return first === 0 || first === 127 || first >= 224;
}

/** Realtime clock with sub-millisecond resolution, comparable to tcpdump's timestamps. */
const realtimeMs = () => performance.timeOrigin + performance.now();

/**
 * Kernel capture time → attackalert line on the daemon's stderr, per probe: LATENCY_PROBES
 * TCP SYNs, then as many UDP datagrams, 20 ms apart, each from a new random source (so that
 * per-source log limits hold none back). Needs a default route in the target: the daemon
 * pairs a TCP probe with the kernel's RST, which must be able to go out.
 */
async function latency(lab: Lab, scanner: ScannerHost, daemon: LabProcess): Promise<Latency> {
  const filter = `dst host ${lab.target.v4} and ((tcp[13] = 2 and dst port ${TRAP_PORT}) or (udp and dst port ${UDP_TRAP_PORT}))`;
  const tcpdump = lab.spawn(lab.target, [
    "tcpdump",
    ...["-i", scanner.peerIface, "-n", "-l", "-tt", "--time-stamp-precision=micro", filter],
  ]);
  const logged = new Map<string, number>();
  let scanned = daemon.stderr.length;
  const onOutput = (): void => {
    const now = realtimeMs();
    const text = daemon.stderr;
    for (const m of text.slice(Math.max(0, scanned - 200)).matchAll(/ from host: (\d+\.\d+\.\d+\.\d+)\//g)) {
      if (m[1] !== undefined && !logged.has(m[1])) logged.set(m[1], now);
    }
    scanned = text.length;
  };
  daemon.events.on("output", onOutput);
  try {
    await lab.waitForOutput(tcpdump, /listening on/, 5000, "stderr");
    for (const kind of [
      ["-S", "-p", String(TRAP_PORT)],
      ["-2", "-p", String(UDP_TRAP_PORT)],
    ]) {
      const argv = ["hping3", "-q", "--rand-source", ...kind, "-i", "u20000", "-c", String(LATENCY_PROBES)];
      await lab.exec(scanner, ["timeout", "10", ...argv, lab.target.v4], { timeoutMs: 15_000 });
    }
    await lab
      .waitFor(() => logged.size >= 2 * LATENCY_PROBES, { timeoutMs: 2000, what: "log lines" })
      .catch(() => undefined);
  } finally {
    daemon.events.off("output", onOutput);
    await tcpdump.stop(2000);
  }
  const tcp: number[] = [];
  const udp: number[] = [];
  let firstMs = Number.NaN;
  let missing = 0;
  let unanswered = 0;
  for (const line of tcpdump.stdout.split("\n")) {
    const m = /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.\d+ > \S+ (\S+)/.exec(line);
    if (m === null) continue;
    const loggedMs = logged.get(m[2] ?? "");
    if (loggedMs === undefined) {
      missing++; // a random source the daemon ignores (loopback, multicast...) or a lost line
      continue;
    }
    if (unanswerable(m[2] ?? "")) {
      unanswered++;
      continue;
    }
    const ms = loggedMs - Number(m[1]) * 1000;
    const isUdp = m[3] === "UDP,";
    if (Number.isNaN(firstMs)) firstMs = ms;
    else (isUdp ? udp : tcp).push(ms);
  }
  const q = (v: number[], at: number) =>
    r3([...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(at * v.length))] ?? Number.NaN);
  return {
    firstMs: r3(firstMs),
    tcpMedianMs: q(tcp, 0.5),
    tcpP90Ms: q(tcp, 0.9),
    udpMedianMs: q(udp, 0.5),
    udpP90Ms: q(udp, 0.9),
    maxMs: r3(Math.max(...tcp, ...udp)),
    measured: tcp.length + udp.length + 1,
    missing,
    unanswerable: unanswered,
  };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function describe(p: Phase): string {
  const d = p.delta;
  return (
    `${p.phase}: hping3 sent ${p.sent}, offered ${p.offered} (${p.offeredPps} pkt/s); ` +
    `frames ${d.frames ?? 0}, hits ${d.hits ?? 0}, counted ${counted(d)} (${((100 * counted(d)) / Math.max(1, p.offered)).toFixed(1)} % of offered), ` +
    `kernel drops ${d.kernelDrops ?? 0}; CPU ${p.cpuPct} % of a core (${p.sysPct} % in the kernel; ` +
    `${p.cpuPctInclDrain} % incl. drain; ${p.cpuUsPerPacket} µs per offered packet); ` +
    `peak RSS ${p.peakRssMiB} MiB (PSS ${p.peakPssMiB} MiB); the machine's softirq ${p.softirqPct} % of a core`
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("flood-daemon: needs root (creates network namespaces); skipped");
    return;
  }
  const lab = await createLab({ name: "psspflood", hosts: 2 });
  // FLEET=1: redis-server on the target's own loopback, started and removed here.
  const redisPort = 6390;
  const redisDir = fleet ? await mkdtemp(join(tmpdir(), "ps-flood-redis-")) : undefined;
  let redis: LabProcess | undefined;
  if (redisDir !== undefined) {
    await lab.execOk(lab.target, ["ip", "link", "set", "lo", "up"]);
    const conf = await writeRedisConf(redisDir, redisPort, ["127.0.0.1"], undefined);
    redis = lab.spawn(lab.target, ["redis-server", conf]);
    await lab.waitForOutput(redis, /Ready to accept connections/, 10_000);
  }
  const files = await writeDaemonFiles({
    BLOCK_TCP: shipped ? "1" : "0",
    BLOCK_UDP: shipped ? "1" : "0",
    ...((shipped || kernelObserves) && { KILL_FIREWALL: "nftables", KERNEL_TRAP: "1" }),
    SCAN_TRIGGER: scanTrigger,
    TCP_PORTS: "1,11,15,79,111,119,143,540,1080,2000,6667,12345,31337",
    UDP_PORTS: "1,7,9,69,161,162,513,640,31337",
    ...(fleet && {
      FLEET_URL: `redis://127.0.0.1:${redisPort}`,
      FLEET_NAME: "flood",
      FLEET_SCAN_TRIGGER: "3",
    }),
  });
  let daemon: LabProcess | undefined;
  try {
    const [scanner, other] = lab.scanners as [ScannerHost, ScannerHost];
    const socketPath = socketPathFor(`${files.dir}/state`);
    const results: Phase[] = [];
    const latencies: Latency[] = [];
    for (let run = 1; run <= runs; run++) {
      // A fresh daemon per run, as netns-bench does.
      daemon = lab.spawn(lab.target, ["node", ...nodeArgs, MAIN_JS, "-c", files.conf, "-stcp", "-sudp"]);
      await lab.waitForOutput(daemon, READY, 20_000);
      const pid = daemon.pid;
      if (pid === undefined) throw new Error("daemon not found");
      const idle = sampleProc(pid);
      console.log(
        `run ${run}: daemon pid ${pid} (idle RSS ${mib(idle.rssKiB)} MiB, PSS ${mib(idle.pssKiB)} MiB)`,
      );
      await lab.execOk(lab.target, ["ip", "route", "add", "default", "via", other.v4]);
      const lat = await latency(lab, scanner, daemon);
      await lab.execOk(lab.target, ["ip", "route", "del", "default"]);
      latencies.push(lat);
      console.log(
        `  latency, capture → log line: first probe ${lat.firstMs} ms; then TCP median ${lat.tcpMedianMs} ms ` +
          `(p90 ${lat.tcpP90Ms}), UDP median ${lat.udpMedianMs} ms (p90 ${lat.udpP90Ms}), max ${lat.maxMs} ms ` +
          `(${lat.measured} probes measured, ${lat.missing} not logged, ${lat.unanswerable} from sources ` +
          "no answer can go to, left out)",
      );
      console.log(JSON.stringify({ bench: "flood-daemon", run, phase: "latency", ...lat }));
      const flood = ["-q", "-S", "--flood", "--rand-source", "-p", String(TRAP_PORT)];
      const noRoute = await phase(lab, scanner, pid, socketPath, `flood, no route (netns-bench)`, flood);
      console.log(`  ${describe(noRoute)}`);
      await lab.execOk(lab.target, ["ip", "route", "add", "default", "via", other.v4]);
      const routed = await phase(lab, scanner, pid, socketPath, "flood, default route", flood);
      await lab.execOk(lab.target, ["ip", "route", "del", "default"]);
      console.log(`  ${describe(routed)}`);
      const benign = await phase(lab, scanner, pid, socketPath, "benign SYN flood to an unwatched port", [
        "-q",
        "-S",
        "--flood",
        "-p",
        String(BENIGN_PORT),
      ]);
      console.log(`  ${describe(benign)}`);
      results.push(noRoute, routed, benign);
      for (const p of [noRoute, routed, benign])
        console.log(JSON.stringify({ bench: "flood-daemon", run, ...p }));
      await daemon.stop(5000);
    }
    const medianOf = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    console.log(
      JSON.stringify({
        bench: "flood-daemon",
        summary: "median",
        phase: "latency",
        runs: latencies.length,
        firstMs: medianOf(latencies.map((l) => l.firstMs)),
        tcpMedianMs: medianOf(latencies.map((l) => l.tcpMedianMs)),
        tcpP90Ms: medianOf(latencies.map((l) => l.tcpP90Ms)),
        udpMedianMs: medianOf(latencies.map((l) => l.udpMedianMs)),
        udpP90Ms: medianOf(latencies.map((l) => l.udpP90Ms)),
      }),
    );
    const phases = [...new Set(results.map((p) => p.phase))];
    for (const name of phases) {
      const of = results.filter((p) => p.phase === name);
      const med = (f: (p: Phase) => number) => {
        const v = of.map(f).sort((a, b) => a - b);
        return v[Math.floor(v.length / 2)] ?? Number.NaN;
      };
      console.log(
        JSON.stringify({
          bench: "flood-daemon",
          summary: "median",
          phase: name,
          runs: of.length,
          offeredPps: med((p) => p.offeredPps),
          countedPerOffered: med((p) => counted(p.delta) / Math.max(1, p.offered)),
          kernelDrops: med((p) => p.delta.kernelDrops ?? 0),
          cpuPct: med((p) => p.cpuPct),
          sysPct: med((p) => p.sysPct),
          softirqPct: med((p) => p.softirqPct),
          cpuUsPerPacket: med((p) => p.cpuUsPerPacket),
          peakRssMiB: med((p) => p.peakRssMiB),
          peakPssMiB: med((p) => p.peakPssMiB),
        }),
      );
    }
  } catch (err) {
    console.error(err);
    if (daemon) console.error(`daemon output:${daemon.tail(3000)}`);
    process.exitCode = 1;
  } finally {
    if (redis !== undefined) {
      const stats = await lab.exec(lab.target, [
        "redis-cli",
        "-p",
        String(redisPort),
        "info",
        "commandstats",
      ]);
      const calls = [...stats.stdout.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].map(
        ([, n, c]) => `${n}=${c}`,
      );
      console.log(JSON.stringify({ bench: "flood-daemon", fleet: true, redisCalls: calls.join(" ") }));
      redis.kill("SIGTERM");
      await redis.exited;
    }
    await lab.destroy();
    await files.remove();
    if (redisDir !== undefined) await rm(redisDir, { recursive: true, force: true });
  }
}

await main();
