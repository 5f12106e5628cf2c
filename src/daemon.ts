/**
 * Wires the stages together: sensor → detect → policy → respond, with logging and state
 * beside them. Start-up and shut-down are explicit, commented steps. Nothing here exits the
 * process: failures are thrown as StartError with the exit status the CLI should use.
 */

import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import type { RunOptions } from "./cli/args.js";
import type { IgnoreList } from "./config/ignore.js";
import { loadConfig, loadIgnoreFile } from "./config/load.js";
import { type Config, formatConfigError } from "./config/types.js";
import { parseIp } from "./decode/address.js";
import type { Mode } from "./detect/events.js";
import { TriggerTable } from "./detect/trigger.js";
import { type Logger, openLogger } from "./log/logger.js";
import * as msg from "./log/messages.js";
import { Pipeline } from "./pipeline.js";
import { Policy } from "./policy/policy.js";
import { createFirewall } from "./respond/firewall.js";
import { HostsDenyResponder } from "./respond/hosts-deny.js";
import { Reactor } from "./respond/reactor.js";
import type { Responder } from "./respond/responder.js";
import { type BasicSensor, openBasicSensor } from "./sensors/basic.js";
import { ProtectedHosts } from "./sensors/local-addresses.js";
import { BlockRegistry } from "./state/blocks.js";
import { HistoryFile } from "./state/history.js";
import { VERSION } from "./version.js";

/** A failure to start, with the exit status of spec §1 (2 config/usage, 1 anything else). */
export class StartError extends Error {
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Tunables that are not (yet) config keys; each documented in docs/configuration.md. */
export const LIMITS = {
  maxSources: 65_536,
  triggerWindowMs: 10 * 60_000,
  maxBlocks: 100_000,
  maxBlocksPerMinute: 60,
  repeatLogWindowMs: 60_000,
  maxRepeatEntries: 4096,
  hostFactsMaxAgeMs: 1_000,
} as const;

export interface RunningDaemon {
  readonly pipeline: Pipeline;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

export async function loadConfigOrThrow(path: string): Promise<{ config: Config; ignore: IgnoreList }> {
  const parsed = await loadConfig(path);
  if (!parsed.ok) throw new StartError(parsed.errors.map(formatConfigError).join("\n"), 2);
  const ignore = await loadIgnoreFile(parsed.value.ignoreFile);
  if (!ignore.ok) throw new StartError(ignore.errors.map(formatConfigError).join("\n"), 2);
  return { config: parsed.value, ignore: ignore.value };
}

export async function startDaemon(options: RunOptions): Promise<RunningDaemon> {
  // 1. Configuration: every error at once, exit 2.
  const { config, ignore } = await loadConfigOrThrow(options.configPath);
  ignore.addLoopback();
  ignore.prepare();

  // 2. Logging: syslog as configured, mirrored to stderr in the foreground.
  const log = openLogger({
    facility: config.syslogFacility,
    level: config.syslogLevel,
    syslogPath: config.syslogSocket,
    foreground: !options.daemonize,
  });
  log.notice(msg.starting(VERSION));

  const monoClockMs = () => performance.now();
  const wallClockMs = () => Date.now();

  // 3. Files: the directories of history, blocked files and state must exist.
  for (const dir of new Set([dirname(config.historyFile), dirname(config.blockedFile), config.stateDir])) {
    await mkdir(dir, { recursive: true, mode: 0o750 }).catch((err: Error) => {
      throw new StartError(`cannot create ${dir}: ${err.message}`, 1);
    });
  }

  // 4. Who is never acted on: the ignore file, loopback, this host, gateways, name servers.
  const hosts = new ProtectedHosts(LIMITS.hostFactsMaxAgeMs, monoClockMs);
  const isProtected = (address: string): boolean => {
    const ip = parseIp(address);
    return ip === undefined || ignore.matches(ip) || hosts.reason(address) !== undefined;
  };

  // 5. Responders: the built-in firewall and hosts.deny, created if missing.
  const anyBlocking = config.blockTcp === 1 || config.blockUdp === 1;
  const firewall = anyBlocking ? createFirewall(config) : undefined;
  const hostsDeny =
    anyBlocking && config.killHostsDeny !== undefined
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
      : undefined;
  for (const responder of [firewall, hostsDeny]) {
    if (responder === undefined) continue;
    const r = await responder.start();
    if (!r.ok) {
      log.error(`adminalert: ERROR: cannot start the ${responder.name} blocker: ${r.error}`);
      await log.close();
      throw new StartError(`cannot start the ${responder.name} blocker: ${r.error}`, 1);
    }
  }

  // 6. The stages.
  const registry = new BlockRegistry(config.blockedFile, LIMITS.maxBlocks);
  await registry.writeFiles(options.modes);
  const trigger = new TriggerTable({
    scanTrigger: config.scanTrigger,
    maxSources: LIMITS.maxSources,
    windowMs: LIMITS.triggerWindowMs,
  });
  const policy = new Policy({
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    isProtected,
    isBlocked: (a) => registry.has(a),
    maxBlocksPerMinute: LIMITS.maxBlocksPerMinute,
    repeatLogWindowMs: LIMITS.repeatLogWindowMs,
    maxRepeatEntries: LIMITS.maxRepeatEntries,
  });
  const reactor = new Reactor({
    config,
    log,
    registry,
    history: new HistoryFile(config.historyFile),
    hostsDeny,
    firewall,
    wallClockMs,
  });
  const pipeline = new Pipeline({
    log,
    trigger,
    policy,
    registry,
    reactor,
    blockTimeoutSec: config.blockTimeoutSec,
    maxBlocksPerMinute: LIMITS.maxBlocksPerMinute,
    wallClockMs,
  });

  // 7. Sensors. Basic modes bind their ports; none bound is a failure to start.
  const sensors: BasicSensor[] = [];
  const banner = config.portBanner;
  const onBasicHit = (hit: Parameters<Pipeline["onHit"]>[0]) => {
    const d = pipeline.onHit(hit);
    const triggered = d.kind !== "ignored" && d.kind !== "counted";
    return triggered ? banner : undefined;
  };
  for (const mode of options.modes) {
    if (mode !== "tcp" && mode !== "udp") {
      await shutdownParts(sensors, [firewall, hostsDeny], log);
      throw new StartError(`mode -${mode} is not available in this version`, 1);
    }
    const ports = mode === "tcp" ? config.tcpPorts : config.udpPorts;
    const sensor = await openBasicSensor(mode, ports, onBasicHit, log, monoClockMs);
    sensors.push(sensor);
    if (sensor.boundPorts.length === 0) {
      const proto = mode === "tcp" ? "TCP" : "UDP";
      log.error(msg.noPortBound(proto));
      await shutdownParts(sensors, [firewall, hostsDeny], log);
      throw new StartError(`no ${proto} port could be bound`, 1);
    }
  }
  if (config.kernelTrap) log.notice("adminalert: KERNEL_TRAP is not available in this version; ignored");

  // 8. Armed: tests and operators wait for this line.
  log.notice(msg.active());

  // 9. Stop on SIGTERM/SIGINT: close sensors, let reactions finish, keep blocks in force.
  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      for (const line of msg.shuttingDown()) log.notice(line);
      for (const s of sensors) s.close();
      await pipeline.settle();
      await shutdownParts([], [firewall, hostsDeny], log);
      resolveStopped();
    })();
    return stopping;
  };
  const onSignal = () => void stop();
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return { pipeline, stopped, stop };
}

async function shutdownParts(
  sensors: readonly BasicSensor[],
  responders: readonly (Responder | undefined)[],
  log: Logger,
): Promise<void> {
  for (const s of sensors) s.close();
  for (const r of responders) await r?.stop();
  await log.close();
}

export type { Mode };
