/**
 * Wires the stages together: sensor → detect → policy → respond, with logging and state
 * beside them. Start-up and shut-down are explicit, commented steps. Nothing here exits the
 * process: failures are thrown as StartError with the exit status the CLI should use.
 */

import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { RunOptions } from "./cli/args.js";
import type { IgnoreList } from "./config/ignore.js";
import { loadConfig, loadIgnoreFile } from "./config/load.js";
import { type Config, formatConfigError } from "./config/types.js";
import type { MetricsServer } from "./control/metrics-http.js";
import { type ControlResult, compactPorts, type StatusReport, socketPathFor } from "./control/protocol.js";
import { openServiceNotifier } from "./control/sd-notify.js";
import { startControlServer } from "./control/server.js";
import { reportReady } from "./control/service-status.js";
import { canonicalIp, parseIp } from "./decode/address.js";
import type { Hit, Mode } from "./detect/events.js";
import { TriggerTable } from "./detect/trigger.js";
import { openLogger } from "./log/logger.js";
import * as msg from "./log/messages.js";
import { DEFAULT_RATE_LIMIT } from "./log/ratelimit.js";
import { DEFAULT_RESOLVER, NameResolver } from "./log/resolver.js";
import { Pipeline } from "./pipeline.js";
import { banDurationSec } from "./policy/ban-duration.js";
import { type Decision, Policy } from "./policy/policy.js";
import { createFirewall } from "./respond/firewall.js";
import { HostsDenyResponder } from "./respond/hosts-deny.js";
import { KernelTrap, kernelTrapPlan, reconciledHit, unrecordedBlocks } from "./respond/kernel-trap.js";
import { NftablesResponder } from "./respond/nftables.js";
import { Reactor } from "./respond/reactor.js";
import { openBasicSensor } from "./sensors/basic.js";
import { describeMissing, neededCapabilities, readUnprivilegedPortStart } from "./sensors/capabilities.js";
import { type KernelTrapSensor, openKernelTrapSensor } from "./sensors/kernel-trap-sensor.js";
import { defaultGateways, nameServers, ownAddresses, ProtectedHosts } from "./sensors/local-addresses.js";
import { candidatePorts, isCaptureMode, portList } from "./sensors/port-set.js";
import { type CaptureSensor, openCaptureSensor } from "./sensors/stealth.js";
import { type BlockRecord, BlockRegistry } from "./state/blocks.js";
import { ExpiryTimer } from "./state/expiry.js";
import { HistoryFile, historyLineOf } from "./state/history.js";
import { StateStore } from "./state/store.js";
import { VERSION } from "./version.js";
import { warmUpPipeline } from "./warm-up.js";

/** A failure to start, with the exit status of spec §1 (2 config/usage, 1 anything else). */
export class StartError extends Error {
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Tunables that are not config keys; each documented in docs/design.md. */
export const LIMITS = {
  maxSources: 16_384,
  maxBlocks: 100_000,
  repeatLogWindowMs: 60_000,
  maxRepeatEntries: 4096,
  hostFactsMaxAgeMs: 1_000,
  /** A host stays a repeat offender this long after its last block. */
  offenderMemoryMs: 30 * 86_400_000,
} as const;

/** A sensor as the daemon sees it: what it watches, and how to close it. */
interface ArmedSensor {
  readonly mode: Mode;
  readonly ports: readonly number[];
  close(): void;
}

export interface RunningDaemon {
  readonly pipeline: Pipeline;
  readonly registry: BlockRegistry;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  readonly stopped: Promise<void>;
  unblock(address: string): Promise<ControlResult>;
  block(address: string): Promise<ControlResult>;
  stop(): Promise<void>;
}

export async function loadConfigOrThrow(path: string): Promise<{ config: Config; ignore: IgnoreList }> {
  const parsed = await loadConfig(path);
  if (!parsed.ok) throw new StartError(parsed.errors.map(formatConfigError).join("\n"), 2);
  const ignore = await loadIgnoreFile(parsed.value.ignoreFile);
  if (!ignore.ok) throw new StartError(ignore.errors.map(formatConfigError).join("\n"), 2);
  ignore.value.addLoopback();
  ignore.value.prepare();
  return { config: parsed.value, ignore: ignore.value };
}

export async function startDaemon(options: RunOptions): Promise<RunningDaemon> {
  // 1. Configuration: every error at once, exit 2. `ignore` is replaced on SIGHUP.
  const loaded = await loadConfigOrThrow(options.configPath);
  const config = loaded.config;
  let ignore = loaded.ignore;

  // 2. Logging: syslog as configured, mirrored to stderr in the foreground.
  const log = openLogger({
    facility: config.syslogFacility,
    level: config.syslogLevel,
    syslogPath: config.syslogSocket,
    foreground: !options.daemonize,
    // -v: every hit line of a source (the total cap still holds against floods).
    rateLimit: options.verbose || options.debug ? { perKey: DEFAULT_RATE_LIMIT.total } : undefined,
  });
  log.notice(msg.starting(VERSION));
  // systemd Type=notify (no-op without NOTIFY_SOCKET); its watchdog pings start now.
  const service = openServiceNotifier((line) => log.warn(line));
  const monoClockMs = () => performance.now();
  const wallClockMs = () => Date.now();
  const cleanups: (() => Promise<void> | void)[] = [() => log.close(), () => service.close()];
  const fail = async (message: string, exitCode: 1 | 2): Promise<never> => {
    log.error(`adminalert: ERROR: ${message}`);
    for (const c of cleanups.reverse()) await c();
    throw new StartError(message, exitCode);
  };

  // 3. Privileges: say precisely which capability is missing, before anything fails obscurely.
  for (const { need, message } of describeMissing(
    neededCapabilities(options.modes, config, readUnprivilegedPortStart()),
  )) {
    if (need.certain) await fail(message, 1);
    log.warn(`adminalert: WARNING: ${message}`);
  }

  // 4. Files and state: directories exist; the state database opens.
  for (const dir of new Set([dirname(config.historyFile), dirname(config.blockedFile), config.stateDir])) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      await fail(`cannot create ${dir}: ${(err as Error).message}`, 1);
    }
  }
  let store: StateStore;
  try {
    store = new StateStore(join(config.stateDir, "state.db"));
  } catch (err) {
    return fail(`cannot open the state database in ${config.stateDir}: ${(err as Error).message}`, 1);
  }
  cleanups.push(() => store.close());

  // 5. Who is never acted on: the ignore file, loopback, this host, gateways, name servers.
  const hosts = new ProtectedHosts(LIMITS.hostFactsMaxAgeMs, monoClockMs);
  cleanups.push(() => hosts.close());
  const isIgnored = (address: string): boolean => {
    const ip = parseIp(address);
    return ip === undefined || ignore.matches(ip) || hosts.isOwn(address);
  };
  const neverBlockReason = (address: string) => hosts.neverBlockReason(address);

  // 6. Responders: the built-in firewall and hosts.deny, created if missing.
  const anyBlocking = config.blockTcp === 1 || config.blockUdp === 1;
  const firewall = anyBlocking ? createFirewall(config) : undefined;
  const hostsDeny =
    anyBlocking && config.killHostsDeny !== undefined
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny, (m) => log.warn(m))
      : undefined;
  for (const responder of [firewall, hostsDeny]) {
    if (responder === undefined) continue;
    cleanups.push(() => responder.stop());
    const r = await responder.start();
    if (!r.ok) await fail(`cannot start the ${responder.name} blocker: ${r.error}`, 1);
  }

  // 7. The stages.
  const registry = new BlockRegistry(config.blockedFile, LIMITS.maxBlocks, store);
  const history = new HistoryFile(config.historyFile);
  const reactor = new Reactor({ config, log, registry, history, hostsDeny, firewall, wallClockMs });
  const trigger = new TriggerTable({
    scanTrigger: config.scanTrigger,
    maxSources: LIMITS.maxSources,
    windowMs: config.triggerWindowSec * 1000,
  });
  const policy = new Policy({
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    isIgnored,
    neverBlockReason,
    isBlocked: (a) => registry.has(a),
    maxBlocksPerMinute: config.maxBlocksPerMinute,
    repeatLogWindowMs: LIMITS.repeatLogWindowMs,
    maxRepeatEntries: LIMITS.maxRepeatEntries,
  });
  const banDuration = {
    baseSec: config.blockTimeoutSec,
    growth: config.blockTimeoutGrowth,
    maxSec: config.blockTimeoutMaxSec,
  };
  // KERNEL_TRAP: a kernel block the pipeline does not record as a new one. An already blocked
  // host gets its recorded ban back (its expiry, not the kernel's base timeout); anyone else is
  // let go at once: the protected sets lagged behind a change (ignore file, host addresses).
  const settleKernelBlock = async (hit: Hit, decision: Decision): Promise<void> => {
    const record = registry.get(hit.address);
    if (decision.kind === "already-blocked" && record !== undefined) {
      await reactor.reapply(record);
      return;
    }
    const r = await firewall?.unban(hit);
    if (r !== undefined && !r.ok) log.error(msg.unblockFailed(hit.address, firewall?.name ?? "", r.error));
    const why = decision.kind === "protected" ? decision.reason : "it is never acted on";
    log.warn(`adminalert: kernel trap blocked ${hit.address}, but ${why}: block lifted`);
    await Promise.all([refreshIgnored(), refreshHostFacts()]);
  };
  const resolver = config.resolveHost ? new NameResolver({ ...DEFAULT_RESOLVER, monoClockMs }) : undefined;
  const pipeline = new Pipeline({
    log,
    trigger,
    policy,
    registry,
    reactor,
    banSeconds: (address) => banDurationSec(banDuration, store.recordOffence(address, wallClockMs())),
    maxBlocksPerMinute: config.maxBlocksPerMinute,
    wallClockMs,
    nameOf: resolver && ((address) => resolver.nameOf(address)),
    // -d: every decision, on stderr only (never to syslog).
    trace: options.debug ? (line) => process.stderr.write(`debug: ${line}\n`) : undefined,
    onKernelBlock: (hit, decision) => void settleKernelBlock(hit, decision),
  });

  // 8. Lifting blocks: expiry and `unblock` remove a host from everywhere it was blocked.
  const lift = async (record: BlockRecord, why: "expired" | "unblocked"): Promise<void> => {
    try {
      await reactor.lift(record);
    } finally {
      await registry.release(record.address);
    }
    log.notice(why === "expired" ? msg.blockExpired(record.address) : msg.unblocked(record.address), {
      ip: record.address,
    });
  };
  const expiry = new ExpiryTimer(store, (b) => lift(registry.get(b.address) ?? b, "expired"), wallClockMs);
  cleanups.push(() => expiry.stop());

  // 9. Reconcile with what survived the last run: lift what expired meanwhile, put the rest
  //    back in force (idempotent steps only), write history lines a crash left unwritten.
  store.pruneOffenders(wallClockMs() - LIMITS.offenderMemoryMs);
  for (const b of registry.load()) {
    if (b.expiresAtMs !== 0 && b.expiresAtMs <= wallClockMs()) {
      await lift(b, "expired");
      continue;
    }
    await reactor.reapply(b);
    if (!b.recorded) {
      if (!(await history.hasLineOf(b))) await history.append(historyLineOf(b));
      store.markRecorded(b.address);
    }
  }
  await registry.writeFiles(options.modes, (r) => historyLineOf(r));
  if (registry.size > 0) log.notice(`adminalert: ${registry.size} blocks restored from ${config.stateDir}`);
  expiry.schedule();

  // Compiles the hit path on synthetic hits in a scratch copy (the first probe would pay it).
  warmUpPipeline({
    modes: options.modes,
    scanTrigger: config.scanTrigger,
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    queries: { isIgnored, neverBlockReason, isBlocked: (a) => registry.has(a) },
  });

  // 10. Sensors. Basic modes bind their ports (none bound is a failure to start); stealth and
  //     advanced modes open one capture (a capture that cannot open is a failure to start).
  const sensors: ArmedSensor[] = [];
  cleanups.push(() => {
    for (const s of sensors) s.close();
  });
  const banner = config.portBanner;
  const onHit = (hit: Hit): string | undefined => {
    const d = pipeline.onHit(hit);
    if (d.kind === "respond") expiry.schedule();
    return d.kind !== "ignored" && d.kind !== "counted" ? banner : undefined;
  };
  let capture: CaptureSensor | undefined;
  const trapPlan = kernelTrapPlan(config, options.modes);
  let kernelTrap: KernelTrap | undefined;
  let kernelSensor: KernelTrapSensor | undefined;
  const kernelTimers: NodeJS.Timeout[] = [];
  // Never trapped: the ignore list with loopback (start, SIGHUP), and this host's addresses,
  // gateways and name servers (every 2 s; no nft run when unchanged).
  const refreshIgnored = async (): Promise<void> => {
    const r = await kernelTrap?.setProtected(ignore.prefixes());
    if (r !== undefined && !r.ok) log.error(`adminalert: ERROR: ${r.error}`);
  };
  const refreshHostFacts = async (): Promise<void> => {
    const r = await kernelTrap?.setHostAddresses([...ownAddresses(), ...defaultGateways(), ...nameServers()]);
    if (r !== undefined && !r.ok) log.error(`adminalert: ERROR: ${r.error}`);
  };
  const reconcileKernel = async (): Promise<void> => {
    const mode = trapPlan.kernel[0]?.mode;
    if (!(firewall instanceof NftablesResponder) || mode === undefined) return;
    const listed = await firewall.listBlocked();
    if (!listed.ok) {
      log.error(`adminalert: ERROR: kernel trap: ${listed.error}`);
      return;
    }
    for (const entry of unrecordedBlocks(listed.entries, (a) => registry.has(a))) {
      onHit(reconciledHit(entry, mode, monoClockMs()));
    }
  };
  const rearmKernelTrap = async (): Promise<void> => {
    if (kernelTrap === undefined || (await kernelTrap.present()) !== false) return;
    log.warn("adminalert: kernel trap rules were removed from nftables; putting them back");
    const r = await kernelTrap.start();
    if (!r.ok) log.error(`adminalert: ERROR: ${r.error}`);
  };
  for (const mode of options.modes) {
    if (mode !== "tcp" && mode !== "udp") continue;
    const proto = mode === "tcp" ? "TCP" : "UDP";
    const ports = mode === "tcp" ? config.tcpPorts : config.udpPorts;
    const sensor = await openBasicSensor(mode, ports, onHit, log, monoClockMs);
    sensors.push({ mode, ports: sensor.boundPorts, close: () => sensor.close() });
    if (sensor.boundPorts.length === 0) {
      log.error(msg.noPortBound(proto));
      await fail(`no ${proto} port could be bound`, 1);
    }
  }
  // Stealth and advanced modes share one capture.
  const captureModes = options.modes.filter(isCaptureMode);
  if (captureModes.length > 0) {
    const opened = await openCaptureSensor(captureModes, config, options.interfaces, onHit, log);
    if (!opened.ok) await fail(opened.error, 1);
    capture = opened.ok ? opened.sensor : undefined;
    for (const mode of captureModes) {
      sensors.push({ mode, ports: portList(candidatePorts(mode, config)), close: () => {} });
    }
  }

  // 10b. KERNEL_TRAP: the kernel drops the first probe to a trap port and blocks its source;
  //      the NFLOG sensor reports each such block through onHit (flagged kernelBlocked). Order:
  //      the reader first (a block logged to a group nobody reads is lost), the protected
  //      prefixes, the rules; then the blocks the kernel made while nobody listened (kill -9).
  for (const line of trapPlan.lines) log.notice(line);
  if (trapPlan.kernel.length > 0) {
    const trap = new KernelTrap({
      modes: trapPlan.kernel,
      timeoutSec: config.blockTimeoutSec,
      maxBlocksPerMinute: config.maxBlocksPerMinute,
      interfaces: options.interfaces,
    });
    const opened = await openKernelTrapSensor({
      group: trap.spec.group,
      onHit: (hit) => void onHit(hit),
      onGap: () => void reconcileKernel(),
      log,
      monoMs: monoClockMs,
    });
    if (!opened.ok) await fail(`kernel trap: ${opened.error}`, 1);
    kernelSensor = opened.ok ? opened.sensor : undefined;
    cleanups.push(() => kernelSensor?.close());
    kernelTrap = trap;
    await refreshIgnored();
    await refreshHostFacts();
    const armed = await trap.start();
    if (!armed.ok) await fail(armed.error, 1);
    cleanups.push(async () => {
      await trap.disarm();
    });
    await reconcileKernel();
    kernelTimers.push(
      // Host facts (addresses, gateways, name servers) change: the kernel follows within 2 s.
      setInterval(() => void refreshHostFacts(), 2 * LIMITS.hostFactsMaxAgeMs),
      // `nft flush ruleset` removes the trap; the responder recreates only its own table.
      setInterval(() => void rearmKernelTrap(), 10_000),
    );
    cleanups.push(() => {
      for (const t of kernelTimers) clearInterval(t);
    });
  }

  // 11. Control: unblock and block by hand.
  const unblock = async (text: string): Promise<ControlResult> => {
    const address = canonicalIp(text);
    if (address === undefined) return { ok: false, code: "failed", message: `${text} is not an IP address` };
    const record = registry.get(address);
    if (record === undefined) return { ok: true, changed: false, message: "not blocked" };
    await lift(record, "unblocked");
    trigger.forget(address);
    return { ok: true, changed: true, message: "unblocked" };
  };
  const block = async (text: string): Promise<ControlResult> => {
    const ip = parseIp(text);
    const address = ip && canonicalIp(text);
    if (ip === undefined || address === undefined) {
      return { ok: false, code: "failed", message: `${text} is not an IP address` };
    }
    if (isIgnored(address) || neverBlockReason(address) !== undefined) {
      return {
        ok: false,
        code: "protected",
        message: "protected: ignore list, loopback, this host, a gateway or a name server",
      };
    }
    if (registry.has(address)) return { ok: true, changed: false, message: "already blocked" };
    const mode: Mode = options.modes[0] ?? "tcp";
    const sinceMs = wallClockMs();
    const banSec = banDurationSec(banDuration, store.recordOffence(address, sinceMs));
    const record: BlockRecord = {
      address,
      family: ip.family,
      mode,
      port: 0,
      sinceMs,
      expiresAtMs: banSec > 0 ? sinceMs + banSec * 1000 : 0,
      level: 1,
    };
    if (!registry.claim(record)) return { ok: false, code: "limit", message: "the table of blocks is full" };
    await reactor.respond(record, address, "command");
    expiry.schedule();
    return { ok: true, changed: true, message: "blocked" };
  };

  // 12. The control socket: status, blocked, unblock, block.
  const startedAt = new Date(wallClockMs());
  const status = (): StatusReport => {
    const p = pipeline.counters;
    const logStats = log.stats();
    return {
      version: VERSION,
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      uptimeSec: Math.floor((wallClockMs() - startedAt.getTime()) / 1000),
      configFile: config.file,
      modes: options.modes,
      sensors: sensors.map((s) => ({
        mode: s.mode,
        armed: true,
        portCount: s.ports.length,
        ports: compactPorts(s.ports),
      })),
      blockedHosts: registry.size,
      counters: {
        hits: p.hits,
        ignored: p.ignored,
        detections: p.detections,
        blocks: reactor.stats.blocks,
        expiries: reactor.stats.lifted,
        heldBack: p.heldBack,
        evictions: trigger.stats().evictions,
        trackedSources: trigger.stats().tracked,
        errors: reactor.stats.failures + p.reactionErrors,
        logSuppressed: logStats.rateLimit.suppressed,
        syslogDropped: logStats.syslog?.dropped ?? 0,
        ...captureCounters(capture),
        ...kernelTrapCounters(kernelSensor),
      },
    };
  };
  const control = await startControlServer(
    socketPathFor(config.stateDir),
    { status, blocked: () => registry.list(), unblock, block },
    log,
  );
  if (!control.ok) await fail(control.message, 1);
  const controlServer = control.ok ? control.server : undefined;

  // 12b. METRICS_LISTEN: /metrics for Prometheus over HTTP, read at scrape time (absent: off).
  let metricsServer: MetricsServer | undefined;
  if (config.metricsListen !== undefined) {
    // Loaded only when asked for: prom-client costs memory and start-up time otherwise.
    const { metricsRegistry, startMetricsServer } = await import("./control/metrics-http.js");
    const exposition = metricsRegistry({
      status,
      probeKinds: () => pipeline.probeKinds,
      blocksByOrigin: () => reactor.blocksByOrigin,
      blockActions: () => reactor.actions,
      topSources: (n) => pipeline.topSources.top(n),
      topPorts: (n) => pipeline.topPorts.top(n),
    });
    const served = await startMetricsServer(config.metricsListen, exposition);
    if (!served.ok) await fail(served.message, 1);
    metricsServer = served.ok ? served.server : undefined;
    cleanups.push(() => metricsServer?.close());
    if (metricsServer !== undefined) log.notice(msg.metricsListening(metricsServer.url));
  }

  // 13. Armed: tests and operators wait for this line.
  log.notice(msg.active());
  const stopStatus = reportReady(
    service,
    () => ({ modes: options.modes, blockedHosts: registry.size, hits: pipeline.counters.hits }),
    monoClockMs,
  );

  // 14. Signals: SIGTERM/SIGINT stop (blocks stay in force); SIGHUP re-reads the ignore file.
  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const reload = async (): Promise<void> => {
    service.reloading();
    try {
      const next = await loadConfigOrThrow(options.configPath);
      ignore = next.ignore;
      await refreshIgnored();
      log.notice(msg.reloaded(options.configPath));
      const changed = changedKeys(config, next.config);
      if (changed.length > 0) {
        log.warn(`adminalert: changed keys take effect at the next restart: ${changed.join(", ")}`);
      }
    } catch (err) {
      log.error(msg.reloadFailed(options.configPath, (err as Error).message.replaceAll("\n", "; ")));
    } finally {
      service.ready();
    }
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
      process.off("SIGHUP", onReload);
      service.stopping();
      for (const line of msg.shuttingDown()) log.notice(line);
      // The trap first: from here on no block happens that the reader could miss.
      for (const t of kernelTimers) clearInterval(t);
      await kernelTrap?.disarm();
      await kernelSensor?.close();
      for (const s of sensors) s.close();
      await capture?.close();
      await controlServer?.close();
      await metricsServer?.close();
      await pipeline.settle();
      expiry.stop();
      for (const r of [firewall, hostsDeny]) await r?.stop();
      store.close();
      stopStatus();
      service.close();
      await log.close();
      resolveStopped();
    })();
    return stopping;
  };
  const onStop = () => void stop();
  const onReload = () => void reload();
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", onReload);
  return { pipeline, registry, stopped, unblock, block, stop };
}

/** Config fields that differ (SIGHUP applies the ignore file; the rest needs a restart). */
function changedKeys(a: Config, b: Config): string[] {
  return (Object.keys(a) as (keyof Config)[]).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The capture's counters for `status`: frames, kernel drops, and drops by reason. */
function captureCounters(capture: CaptureSensor | undefined): Record<string, number> {
  if (capture === undefined) return {};
  const st = capture.stats();
  const out: Record<string, number> = {
    frames: st.frames,
    decoded: st.decoded,
    candidates: st.candidates,
    replies: st.replies,
    captureHits: st.hits,
    kernelDrops: st.kernelDropped,
    listenerReads: st.listenerReads,
    captureRestarts: st.restarts,
  };
  for (const [reason, n] of Object.entries(st.drops)) {
    out[`drop${reason.replace(/(^|-)([a-z])/g, (_, _d: string, c: string) => c.toUpperCase())}`] = n;
  }
  return out;
}

/** The kernel trap's counters for `status`. */
function kernelTrapCounters(sensor: KernelTrapSensor | undefined): Record<string, number> {
  if (sensor === undefined) return {};
  const st = sensor.stats();
  return {
    kernelTrapHits: st.hits,
    kernelTrapGaps: st.gaps,
    kernelTrapUndecoded: st.undecoded,
    nflogDrops: st.kernelDropped,
    nflogRestarts: st.restarts,
  };
}
