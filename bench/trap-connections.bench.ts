/**
 * Basic-mode TCP sensor throughput: how many trap connections a second the TCP trap and the
 * pipeline absorb, each one attributed and counted. A separate process opens connections to a
 * trap on loopback (connect, then reset at once, as nmap -sT does) with a fixed concurrency,
 * for a bounded count. Log-only policy (BLOCK_TCP=0), so no block stops the client.
 *   node dist/bench/trap-connections.bench.js [connections] [concurrency]
 */

import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { TriggerTable } from "../src/detect/trigger.js";
import { Pipeline } from "../src/pipeline.js";
import { Policy } from "../src/policy/policy.js";
import type { Reactor } from "../src/respond/reactor.js";
import { TcpTrap } from "../src/sensors/tcp-trap.js";
import { BlockRegistry } from "../src/state/blocks.js";
import { MemoryLog } from "../test/helpers/memory-log.js";

const total = Number(process.argv[2] ?? 50_000);
const concurrency = Number(process.argv[3] ?? 64);

const CLIENT = `
const net = require("net");
const [port, total, concurrency] = process.argv.slice(1).map(Number);
let started = 0, done = 0, failed = 0;
function one() {
  if (started >= total) return;
  started++;
  const s = net.connect({ port, host: "127.0.0.1" });
  s.on("connect", () => s.resetAndDestroy());
  s.on("error", () => { failed++; });
  s.on("close", () => { done++; if (done === total) { console.log(JSON.stringify({ done, failed })); } else one(); });
}
for (let i = 0; i < concurrency; i++) one();
`;

const nullLog = new MemoryLog({ keep: false });

async function main(): Promise<void> {
  const registry = new BlockRegistry("/nonexistent/blocked", 10);
  const pipeline = new Pipeline({
    log: nullLog,
    trigger: new TriggerTable({ scanTrigger: 0, maxSources: 65_536, windowMs: 600_000 }),
    policy: new Policy({
      blockTcp: 0,
      blockUdp: 0,
      isIgnored: () => false,
      neverBlockReason: () => undefined,
      isBlocked: () => false,
      maxBlocksPerMinute: 60,
      repeatLogWindowMs: 60_000,
      maxRepeatEntries: 4096,
      priorOffences: () => 0,
      banDuration: { baseSec: 0, growth: 1, maxSec: 0 },
    }),
    registry,
    reactor: undefined as unknown as Reactor, // BLOCK_TCP=0: never called
    recordOffence: () => {},
    maxBlocksPerMinute: 60,
    wallClockMs: Date.now,
  });
  let attributed = 0;
  const trap = TcpTrap.open(0, 4, (c) => {
    if (c.address === "127.0.0.1") attributed++;
    pipeline.onHit({
      mode: "tcp",
      address: c.address,
      family: 4,
      port: c.localPort,
      classification: "Connect",
      ipOptions: false,
      nowMs: performance.now(),
    });
    return undefined;
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const client = spawn(
    process.execPath,
    ["-e", CLIENT, String(trap.port), String(total), String(concurrency)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  client.stdout.on("data", (d) => {
    out += d;
  });
  const timer = setTimeout(() => client.kill("SIGKILL"), 120_000);
  await new Promise((r) => client.on("exit", r));
  clearTimeout(timer);
  // Connections the client finished may still wait in the accept queue: let the trap drain them.
  const deadline = performance.now() + 5000;
  while (pipeline.counters.hits < total && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  trap.close();
  const result = out.trim() ? (JSON.parse(out) as { done: number; failed: number }) : { done: 0, failed: 0 };
  console.log(
    JSON.stringify({
      bench: "trap-connections",
      connections: total,
      concurrency,
      client_done: result.done,
      client_failed: result.failed,
      hits_counted: pipeline.counters.hits,
      attributed,
      hits_per_s: Math.round(pipeline.counters.hits / elapsedS),
      sensor_cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / elapsedS) * 100),
      elapsed_s: Number(elapsedS.toFixed(2)),
    }),
  );
}

await main();
