/**
 * Fleet propagation over a real redis-server on loopback (started here, removed after):
 *
 *   bash scripts/build.sh && node dist/bench/fleet-propagation.bench.js [blocks=1000] [burst=10000]
 *
 * 1. Propagation: `blocks` blocks published one at a time by member A (publish() is what a
 *    local block calls), each timed until member B has the address in its nft set (B's apply()
 *    bans it through the nftables responder; ban() resolves once nft has committed): median and
 *    p99. As root the whole bench runs in a throwaway network namespace (its own loopback, its
 *    own nft table); without root only the Redis leg is timed, and said so.
 * 2. Burst: `burst` blocks queued at once: time until B has applied all, blocks a second, and
 *    Redis `used_memory` before and after (bytes per current block).
 * 3. Flood: 100 000 spoofed trap hits reported by one member in 2 s: script calls and Redis
 *    commands a second (INFO commandstats), against the documented bound (docs/fleet.md).
 */

import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetEvent } from "../src/fleet/event.js";
import { FleetLink } from "../src/fleet/link.js";
import { FLEET_LIMITS } from "../src/limits.js";
import { NftablesResponder } from "../src/respond/nftables.js";
import { FleetStore } from "../src/state/fleet-store.js";
import { startRedis } from "../test/helpers/redis-server.js";

const CHILD_FLAG = "--child";
const args = process.argv.slice(2).filter((a) => a !== CHILD_FLAG);
const blocks = Number(args[0] ?? 1000);
const burst = Number(args[1] ?? 10_000);

// As root: run again inside a throwaway network namespace, deleted whatever happens.
if (!process.argv.includes(CHILD_FLAG) && process.getuid?.() === 0) {
  const ns = `psfleet-bench-${process.pid}`;
  const add = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  try {
    spawnSync("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, self, CHILD_FLAG, ...args], {
      stdio: "inherit",
      timeout: 600_000,
      killSignal: "SIGKILL",
    });
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
  process.exit();
}
const nft = process.argv.includes(CHILD_FLAG) ? new NftablesResponder() : undefined;
if (nft !== undefined) {
  const started = await nft.start();
  if (!started.ok) throw new Error(started.error);
}
/** Phase 1 only: B's apply() puts the address into its nft set before it counts as arrived. */
let banOnApply = nft !== undefined;

const redis = await startRedis();
const dir = await mkdtemp(join(tmpdir(), "ps-fleet-bench-"));
const arrived = new Map<string, number>();
let onArrive: (() => void) | undefined;

function member(name: string, trigger = 0): { link: FleetLink; store: FleetStore } {
  const store = new FleetStore(join(dir, `${name}.db`), 1 << 20);
  const link = new FleetLink({
    url: { tls: false, host: "127.0.0.1", port: redis.port, db: 0 },
    user: undefined,
    password: undefined,
    tls: undefined,
    name: "bench",
    member: name,
    share: true,
    trigger,
    windowMs: 60_000,
    banMs: 3_600_000,
    store,
    wallClockMs: Date.now,
    warn: (line) => process.stderr.write(`${line}\n`),
    apply: async (e) => {
      if (banOnApply && nft !== undefined) {
        const r = await nft.ban({ address: e.address, family: 6, port: e.port, mode: "stcp" }, 3600);
        if (!r.ok) throw new Error(r.error);
      }
      arrived.set(e.address, performance.now());
      onArrive?.();
    },
  });
  return { link, store };
}

function ev(address: string): FleetEvent {
  const now = Date.now();
  return {
    kind: "block",
    origin: "a",
    address,
    mode: "stcp",
    port: 1,
    classification: "SYN",
    sinceMs: now,
    expiresAtMs: now + 3_600_000,
  };
}

/** Canonical text (what the decoder insists on): no zero group next to the "::". */
const addr = (i: number) => `2001:db8:${((i >> 15) + 1).toString(16)}:${((i & 0x7fff) + 1).toString(16)}::1`;
const a = member("a");
const b = member("b");
await a.link.start();
await b.link.start();
const admin = redis.admin();

try {
  // 1. One at a time.
  const ms: number[] = [];
  for (let i = 0; i < blocks; i++) {
    const address = addr(i);
    const done = new Promise<void>((resolve) => {
      onArrive = () => arrived.has(address) && resolve();
    });
    const t0 = performance.now();
    a.link.publish(ev(address));
    await done;
    ms.push((arrived.get(address) ?? t0) - t0);
  }
  ms.sort((x, y) => x - y);
  const q = (p: number) => (ms[Math.min(ms.length - 1, Math.floor(ms.length * p))] ?? 0).toFixed(2);
  const leg = nft
    ? "publish on A → element in B's nft set"
    : "publish on A → apply on B (no root: Redis leg only)";
  console.log(
    `propagation over ${blocks} blocks (${leg}): median ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`,
  );
  banOnApply = false;

  // 2. Burst.
  const memBefore = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
  const t0 = performance.now();
  const last = addr(blocks + burst - 1);
  const all = new Promise<void>((resolve) => {
    onArrive = () => arrived.size >= blocks + burst && resolve();
  });
  for (let i = blocks; i < blocks + burst; i++) a.link.publish(ev(addr(i)));
  await all;
  const s = (performance.now() - t0) / 1000;
  const memAfter = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
  console.log(
    `burst of ${burst}: all applied in ${s.toFixed(2)} s (${Math.round(burst / s)} blocks/s; last ${last}); ` +
      `Redis used_memory ${memBefore} → ${memAfter} bytes (${Math.round((memAfter - memBefore) / burst)} bytes per block)`,
  );

  // 3. Flood of reports from one member.
  const reporter = member("r", 1000);
  await reporter.link.start();
  await admin.config("RESETSTAT");
  const floodStart = performance.now();
  let offered = 0;
  while (performance.now() - floodStart < 2000) {
    for (let i = 0; i < 500; i++)
      reporter.link.report(`198.51.100.${offered++ & 0xff}`, "stcp", offered & 0xffff);
    await new Promise((r) => setTimeout(r, 10));
  }
  const seconds = (performance.now() - floodStart) / 1000;
  const stats = await admin.info("commandstats");
  const calls = [...stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].map(
    ([, n, c]) => [n, Number(c)] as const,
  );
  const total = calls.reduce((x, [, c]) => x + c, 0);
  const scripts = calls.filter(([n]) => n === "evalsha" || n === "eval").reduce((x, [, c]) => x + c, 0);
  console.log(
    `flood: ${offered} hits offered in ${seconds.toFixed(1)} s; ${reporter.link.stats.hitsReported} reported, ` +
      `${reporter.link.stats.hitsDropped} dropped; ${Math.round(scripts / seconds)} script calls/s, ` +
      `${Math.round(total / seconds)} Redis commands/s (bound: ${1000 / FLEET_LIMITS.reportIntervalMs} calls/s, ` +
      `${FLEET_LIMITS.maxHitsPerReport} hits each)`,
  );
  await reporter.link.stop();
  reporter.store.close();
} finally {
  await a.link.stop();
  await b.link.stop();
  a.store.close();
  b.store.close();
  await redis.stop();
  await nft?.stop();
  await rm(dir, { recursive: true, force: true });
}
