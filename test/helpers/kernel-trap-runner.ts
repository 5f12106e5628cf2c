/**
 * Runs the kernel trap (nft rules + NFLOG sensor) alone, for tests and benchmarks inside a lab
 * namespace (a Node process cannot switch namespaces: spawn this with `lab.spawn`).
 *
 *   node dist/test/helpers/kernel-trap-runner.js '<json KernelTrapRunnerSpec>'
 *
 * Order as the daemon must do it: open the NFLOG sensor, set the protected prefixes, arm.
 * stderr: plan lines, then `kernel-trap-runner: armed` (or `... failed: ...`, exit 1).
 * stdout: one JSON object per hit; `{"stats": ...}` on SIGUSR2.
 * SIGUSR1: re-reads `protectFile` (`{"ignore": [...], "nameServers": [...]}`), which replaces
 * `ignore` and `nameServers`, and answers `{"protected": result}` on stdout.
 * SIGTERM: disarm, close the sensor, exit 0.
 */

import { readFile } from "node:fs/promises";
import { type IpPrefix, parsePrefix } from "../../src/config/ignore.js";
import type { Config } from "../../src/config/types.js";
import { kernelTrapPlanLines } from "../../src/log/messages.js";
import { kernelTrapPlan } from "../../src/policy/kernel-trap-plan.js";
import { candidatePorts } from "../../src/port-set.js";
import { KernelTrap } from "../../src/respond/kernel-trap.js";
import { openKernelTrapSensor } from "../../src/sensors/kernel-trap-sensor.js";
import { defaultGateways, ownAddresses } from "../../src/sensors/local-addresses.js";
import type { Hit, Mode } from "../../src/vocabulary.js";
import { testConfig } from "./config.js";
import { MemoryLog } from "./memory-log.js";

export interface KernelTrapRunnerSpec {
  readonly modes: readonly Mode[];
  readonly config?: Partial<Config>;
  readonly group?: number;
  /** Ignore-list entries (loopback is added): the protect sets. */
  readonly ignore?: readonly string[];
  /** Name servers (resolv.conf is per mount namespace): the hosts sets, with this host's
   *  addresses and default gateways. */
  readonly nameServers?: readonly string[];
  readonly interfaces?: readonly string[];
  /** Read again on SIGUSR1. */
  readonly protectFile?: string;
  /** Hits are only counted (benchmarks). */
  readonly quiet?: boolean;
}

function prefixesOf(texts: readonly string[]): IpPrefix[] {
  const out: IpPrefix[] = [];
  for (const t of texts) {
    const r = parsePrefix(t);
    if (r.ok) out.push(r.prefix);
  }
  return out;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((x): x is string => typeof x === "string") : [];
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as KernelTrapRunnerSpec;
  const config = testConfig("/nonexistent", {
    kernelTrap: true,
    killFirewall: "nftables",
    ...spec.config,
  });
  const log = new MemoryLog({ stderr: true, keep: false });
  const plan = kernelTrapPlan(config, spec.modes, (mode) => candidatePorts(mode, config));
  for (const line of kernelTrapPlanLines(config, plan)) log.notice(line);
  const trap = new KernelTrap({
    modes: plan.kernel,
    timeoutSec: config.blockTimeoutSec,
    maxBlocksPerMinute: config.maxBlocksPerMinute,
    group: spec.group,
    interfaces: spec.interfaces,
    ackScans: config.detectAckScans,
    graceSec: config.listenGraceSec,
  });
  let hits = 0;
  const onHit = (hit: Hit): void => {
    hits++;
    if (!spec.quiet) process.stdout.write(`${JSON.stringify({ ...hit, atMs: Date.now() })}\n`);
  };
  const opened = await openKernelTrapSensor({
    group: trap.spec.group,
    onHit,
    log,
    onGap: (reason) => process.stdout.write(`${JSON.stringify({ gap: reason })}\n`),
  });
  if (!opened.ok) {
    process.stderr.write(`kernel-trap-runner: failed: ${opened.error}\n`);
    process.exitCode = 1;
    return;
  }
  const sensor = opened.sensor;
  let ignore = spec.ignore ?? [];
  let nameServers = spec.nameServers ?? [];
  const protect = async () => {
    const r = await trap.setProtected(prefixesOf(["127.0.0.0/8", "::1", ...ignore]));
    if (!r.ok) return r;
    const h = await trap.setHostAddresses([...ownAddresses(), ...defaultGateways(), ...nameServers]);
    return h.ok ? { ok: true as const, changed: r.changed || h.changed } : h;
  };
  const p = await protect();
  const armed = p.ok ? await trap.start() : p;
  if (!armed.ok) {
    process.stderr.write(`kernel-trap-runner: failed: ${armed.error}\n`);
    await sensor.close();
    process.exitCode = 1;
    return;
  }
  process.on("SIGUSR1", () => {
    void (async () => {
      try {
        const doc = JSON.parse(await readFile(spec.protectFile ?? "", "utf8")) as Record<string, unknown>;
        ignore = strings(doc.ignore);
        nameServers = strings(doc.nameServers);
      } catch (err) {
        process.stderr.write(`kernel-trap-runner: protect file: ${(err as Error).message}\n`);
      }
      const r = await protect();
      process.stdout.write(`${JSON.stringify({ protected: r })}\n`);
    })();
  });
  process.on("SIGUSR2", () => {
    void trap
      .overLimitCount()
      .then((overLimit) =>
        process.stdout.write(`${JSON.stringify({ stats: sensor.stats(), hitsSeen: hits, overLimit })}\n`),
      );
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      const r = await trap.disarm();
      if (!r.ok) process.stderr.write(`kernel-trap-runner: ${r.error}\n`);
      await sensor.close();
      process.stderr.write("kernel-trap-runner: closed\n");
      process.exit(0);
    })();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stderr.write(`kernel-trap-runner: armed (group ${trap.spec.group})\n`);
}

void main();
