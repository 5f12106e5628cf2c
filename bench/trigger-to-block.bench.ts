/**
 * Trigger → block: time from a hit entering the pipeline to its address being in the kernel's
 * nftables set (the firewall step's promise resolves when nft has committed the element).
 * Real parts: the pipeline, the reactor, the nftables responder and nft, in a throwaway
 * network namespace. Run as root: node dist/bench/trigger-to-block.bench.js [blocks]
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { TriggerTable } from "../src/detect/trigger.js";
import { Pipeline } from "../src/pipeline.js";
import { Policy } from "../src/policy/policy.js";
import { NftablesResponder } from "../src/respond/nftables.js";
import { Reactor } from "../src/respond/reactor.js";
import type { BlockTarget, Responder } from "../src/respond/responder.js";
import { BlockRegistry } from "../src/state/blocks.js";
import { HistoryFile } from "../src/state/history.js";
import { testConfig } from "../test/helpers/config.js";
import { MemoryLog } from "../test/helpers/memory-log.js";
import { createLab } from "../test/netns/netns.js";

const blocks = Number(process.argv[2] ?? 1000);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Wraps a responder to time each ban from the trigger. */
class Timed implements Responder {
  readonly name: string;
  readonly done = new Map<string, number>();
  constructor(readonly inner: Responder) {
    this.name = inner.name;
  }
  start() {
    return this.inner.start();
  }
  async ban(t: BlockTarget, timeoutSec: number) {
    const r = await this.inner.ban(t, timeoutSec);
    this.done.set(t.address, performance.now());
    return r;
  }
  unban(t: BlockTarget) {
    return this.inner.unban(t);
  }
  flush() {
    return this.inner.flush();
  }
  stop() {
    return this.inner.stop();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root: creates a network namespace and an nft table");
  const lab = await createLab({ name: "bench-block", hosts: 1 });
  const dir = await mkdtemp(join(tmpdir(), "ps-bench-"));
  try {
    const config = testConfig(dir, { killFirewall: "nftables" });
    const firewall = new Timed(
      new NftablesResponder({ command: ["ip", "netns", "exec", lab.target.ns, "nft"] }),
    );
    const started = await firewall.start();
    if (!started.ok) throw new Error(started.error);
    const registry = new BlockRegistry(config.blockedFile, blocks + 10);
    const log = new MemoryLog();
    const pipeline = new Pipeline({
      log,
      trigger: new TriggerTable({ scanTrigger: 0, maxSources: blocks + 10, windowMs: 60_000 }),
      policy: new Policy({
        blockTcp: 1,
        blockUdp: 1,
        isIgnored: () => false,
        neverBlockReason: () => undefined,
        isBlocked: (a) => registry.has(a),
        maxBlocksPerMinute: 0,
        repeatLogWindowMs: 60_000,
        maxRepeatEntries: 100,
        priorOffences: () => 0,
        banDuration: { baseSec: 0, growth: 1, maxSec: 0 },
      }),
      registry,
      reactor: new Reactor({
        config,
        log,
        registry,
        history: new HistoryFile(config.historyFile),
        hostsDeny: undefined,
        firewall,
        wallClockMs: Date.now,
      }),
      recordOffence: () => {},
      maxBlocksPerMinute: 0,
      wallClockMs: Date.now,
    });
    const address = (i: number) =>
      i % 2 === 0
        ? `198.51.${100 + ((i >> 9) & 3)}.${(i >> 1) & 255}`
        : `2001:db8:1::${(i >> 1).toString(16)}`;

    // One block at a time: latency.
    const latencies: number[] = [];
    for (let i = 0; i < blocks; i++) {
      const a = address(i);
      const t0 = performance.now();
      pipeline.onHit({
        mode: "tcp",
        address: a,
        family: a.includes(":") ? 6 : 4,
        port: 143,
        classification: "Connect",
        ipOptions: false,
        nowMs: t0,
      });
      await pipeline.settle();
      latencies.push((firewall.done.get(a) ?? Number.NaN) - t0);
    }
    latencies.sort((x, y) => x - y);

    // Verify: every address is in the kernel's sets.
    const listed = new NftablesResponder({ command: ["ip", "netns", "exec", lab.target.ns, "nft"] });
    const inKernel = await listed.listBlocked();
    await listed.stop();
    const count = inKernel.ok ? inKernel.entries.length : -1;

    const fmt = (ms: number) => ms.toFixed(3);
    console.log(
      JSON.stringify({
        bench: "trigger-to-block",
        blocks,
        in_kernel_sets: count,
        median_ms: fmt(percentile(latencies, 50)),
        p90_ms: fmt(percentile(latencies, 90)),
        p99_ms: fmt(percentile(latencies, 99)),
        max_ms: fmt(latencies.at(-1) ?? Number.NaN),
      }),
    );
    await firewall.stop();
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
