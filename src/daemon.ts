/**
 * Wires the stages together: sensor → detect → policy → respond, with logging and state
 * beside them. Start-up and shut-down are explicit, commented steps. Nothing here exits the
 * process: failures are thrown as StartError with the exit status the CLI should use.
 */

import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { RunOptions } from "./cli/args.js";
import { changedConfigKeys } from "./config/diff.js";
import type { IgnoreList } from "./config/ignore.js";
import { loadConfigOrThrow } from "./config/load.js";
import type { Config } from "./config/types.js";
import { type ControlResult, compactPorts, type StatusReport, socketPathFor } from "./control/protocol.js";
import { startControlServer } from "./control/server.js";
import { canonicalIp, neverBlockable, parseIp } from "./decode/address.js";
import { TriggerTable } from "./detect/trigger.js";
import { reconciledHit, unrecordedBlocks } from "./kernel-trap-reconcile.js";
import { LIMITS } from "./limits.js";
import { type Logger, openLogger } from "./log/logger.js";
import * as msg from "./log/messages.js";
import { DEFAULT_RATE_LIMIT } from "./log/ratelimit.js";
import { DEFAULT_RESOLVER, NameResolver } from "./log/resolver.js";
import { Pipeline } from "./pipeline.js";
import { banDurationSec } from "./policy/ban-duration.js";
import { type Decision, Policy } from "./policy/policy.js";
import { candidatePorts, isCaptureMode, portList } from "./port-set.js";
import { ResourceStack } from "./resources.js";
import { createFirewall } from "./respond/firewall.js";
import { HostsDenyResponder } from "./respond/hosts-deny.js";
import { KernelTrap, kernelTrapPlan } from "./respond/kernel-trap.js";
import { NftablesResponder } from "./respond/nftables.js";
import { Reactor } from "./respond/reactor.js";
import { openBasicSensor } from "./sensors/basic.js";
import { describeMissing, neededCapabilities, readUnprivilegedPortStart } from "./sensors/capabilities.js";
import { type CaptureSensor, openCaptureSensor, warmUpCapturePath } from "./sensors/capture-sensor.js";
import { type KernelTrapSensor, openKernelTrapSensor } from "./sensors/kernel-trap-sensor.js";
import {
  defaultGateways,
  nameServers,
  ownAddresses,
  ProtectedHosts,
  subnetBroadcasts,
} from "./sensors/local-addresses.js";
import { type DaemonSignal, SignalInbox } from "./signals.js";
import { StartError } from "./start-error.js";
import { BlockRegistry } from "./state/blocks.js";
import { CatchUp } from "./state/catch-up.js";
import { ExpiryTimer } from "./state/expiry.js";
import { HistoryFile, historyLineOf } from "./state/history.js";
import { preparePlaces } from "./state/safe-files.js";
import { StateStore } from "./state/store.js";
import { VERSION } from "./version.js";
import type { BlockRecord, Hit, Mode } from "./vocabulary.js";
import { warmUpPipeline } from "./warm-up.js";

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

/**
 * Starts the daemon: numbered steps, each adding what it opened to one list of resources. Any
 * failure (or a SIGTERM/SIGINT between steps) closes that list in reverse, which leaves the
 * host as a stopped daemon leaves it (blocks in force, no trap, no capture, no socket), and
 * throws StartError. `signals` were caught at the first line of the command (src/signals.ts).
 */
export async function startDaemon(
  options: RunOptions,
  signals: SignalInbox = new SignalInbox(),
): Promise<RunningDaemon> {
  // 1. Configuration: every error at once, exit 2. `ignore` is replaced on SIGHUP.
  let loaded: Awaited<ReturnType<typeof loadConfigOrThrow>>;
  try {
    loaded = await loadConfigOrThrow(options.configPath);
  } catch (err) {
    signals.close();
    throw err;
  }
  const config = loaded.config;

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
  const resources = new ResourceStack();
  resources.add("the log", () => log.close());
  const closeAll = () =>
    resources.closeAll((name, err) =>
      log.error(msg.closeFailed(name, (err as Error).message ?? String(err))),
    );
  try {
    return await arm(options, config, loaded.ignore, log, resources, signals, closeAll);
  } catch (err) {
    signals.close();
    if (err instanceof StartError) {
      if (err.exitCode === 0) log.notice(err.message);
      else log.error(`adminalert: ERROR: ${err.message}`);
    } else {
      log.error(`adminalert: ERROR: ${(err as Error).message ?? String(err)}`);
    }
    await closeAll();
    throw err;
  }
}

/** Steps 3 to 14 of start-up; throws to roll back (see startDaemon). */
async function arm(
  options: RunOptions,
  config: Config,
  firstIgnore: IgnoreList,
  log: Logger,
  resources: ResourceStack,
  signals: SignalInbox,
  closeAll: () => Promise<void>,
): Promise<RunningDaemon> {
  let ignore = firstIgnore;
  const monoClockMs = () => performance.now();
  const wallClockMs = () => Date.now();
  const fail = (message: string, exitCode: 1 | 2): never => {
    throw new StartError(message, exitCode);
  };
  /** Between steps: a stop signal during start-up rolls back and exits 0. */
  const checkpoint = (): void => {
    const signal = signals.stopRequested;
    if (signal !== undefined) throw new StartError(msg.startInterrupted(signal), 0);
  };

  // 3. Privileges: say precisely which capability is missing, before anything fails obscurely.
  for (const { need, message } of describeMissing(
    neededCapabilities(options.modes, config, readUnprivilegedPortStart()),
  )) {
    if (need.certain) await fail(message, 1);
    log.warn(`adminalert: WARNING: ${message}`);
  }

  // 4. Files and state: the directories exist (made only inside safe ones) and only root can
  //    write in them and above them; the state database opens. Records that cannot be written
  //    are retried by `catchUp`.
  const unsafe = await preparePlaces({
    create: [dirname(config.historyFile), dirname(config.blockedFile), config.stateDir],
    check: config.killHostsDeny !== undefined ? [dirname(config.wrapperHostsDeny)] : [],
    files: [config.historyFile],
  });
  if (unsafe !== undefined) await fail(unsafe, 1);
  const catchUp = new CatchUp(log);
  resources.add("the record catch-up", () => catchUp.stop());
  let store: StateStore;
  try {
    store = new StateStore(join(config.stateDir, "state.db"));
  } catch (err) {
    return fail(`cannot open the state database in ${config.stateDir}: ${(err as Error).message}`, 1);
  }
  resources.add("the state database", () => store.close());
  checkpoint();

  // 5. Who is never acted on: the ignore file, loopback, this host, gateways, name servers.
  const hosts = new ProtectedHosts(LIMITS.hostFactsMaxAgeMs, monoClockMs);
  resources.add("the host facts", () => hosts.close());
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
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
      : undefined;
  for (const responder of [firewall, hostsDeny]) {
    if (responder === undefined) continue;
    resources.add(`the ${responder.name} blocker`, () => responder.stop());
    const r = await responder.start();
    if (!r.ok) await fail(`cannot start the ${responder.name} blocker: ${r.error}`, 1);
  }
  checkpoint();

  // 7. The stages.
  const registry = new BlockRegistry(config.blockedFile, LIMITS.maxBlocks, store, catchUp);
  const history = new HistoryFile(config.historyFile);
  const reactor = new Reactor({ config, log, registry, history, hostsDeny, firewall, wallClockMs, catchUp });
  // Closed after the reactions and before the responders and the state: a last try for
  // records still behind (a restart also catches up).
  resources.add("the records still behind", async () => {
    catchUp.stop();
    await catchUp.drain();
  });
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
  // let go at once: past MAX_BLOCKS_PER_MINUTE (the kernel's own limit is a token bucket, looser
  // than the one budget; the pipeline logged the held-back line), or the protected sets lagged
  // behind a change (ignore file, host addresses).
  const settleKernelBlock = async (hit: Hit, decision: Decision): Promise<void> => {
    const record = registry.get(hit.address);
    if (decision.kind === "already-blocked" && record !== undefined) {
      await reactor.reapply(record);
      return;
    }
    const r = await firewall?.unban(hit);
    if (r !== undefined && !r.ok) log.error(msg.unblockFailed(hit.address, firewall?.name ?? "", r.error));
    if (decision.kind === "held-back") return;
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
  resources.add("the expiry timer", () => expiry.stop());
  // Closed before the expiry timer: a reaction still under way may schedule it.
  resources.add("the reactions under way", () => pipeline.settle());

  // 9. Reconcile with what survived the last run: lift what expired meanwhile, put the rest
  //    back in force (idempotent steps only), write history lines a crash left unwritten.
  store.pruneOffenders(wallClockMs() - LIMITS.offenderMemoryMs);
  for (const b of registry.load()) {
    if (b.expiresAtMs !== 0 && b.expiresAtMs <= wallClockMs()) {
      await lift(b, "expired");
      continue;
    }
    await reactor.reapply(b);
    if (!b.recorded) await reactor.writeHistory(b, historyLineOf(b), true);
  }
  await registry.writeFiles(options.modes, (r) => historyLineOf(r));
  if (registry.size > 0) log.notice(`adminalert: ${registry.size} blocks restored from ${config.stateDir}`);
  expiry.schedule();
  checkpoint();

  // 9b. Warm-up: the hit path and the capture path run synthetic input in scratch copies, so
  //     that the first real probe meets compiled code (docs/benchmarks.md has the figures).
  warmUpPipeline({
    modes: options.modes,
    scanTrigger: config.scanTrigger,
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    queries: { isIgnored, neverBlockReason, isBlocked: (a) => registry.has(a) },
  });
  warmUpCapturePath(options.modes, config, log);

  // 10. Sensors. Basic modes bind their ports (none bound is a failure to start); stealth and
  //     advanced modes open one capture (a capture that cannot open is a failure to start).
  const sensors: ArmedSensor[] = [];
  resources.add("the sensors", () => {
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
    const r = await kernelTrap?.setHostAddresses([
      ...ownAddresses(),
      ...subnetBroadcasts(),
      ...defaultGateways(),
      ...nameServers(),
    ]);
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
    checkpoint();
  }
  // Stealth and advanced modes share one capture.
  const captureModes = options.modes.filter(isCaptureMode);
  if (captureModes.length > 0) {
    const opened = await openCaptureSensor(captureModes, config, options.interfaces, onHit, log);
    if (!opened.ok) await fail(opened.error, 1);
    capture = opened.ok ? opened.sensor : undefined;
    resources.add("the capture", () => capture?.close());
    for (const mode of captureModes) {
      sensors.push({ mode, ports: portList(candidatePorts(mode, config)), close: () => {} });
    }
    checkpoint();
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
    resources.add("the kernel trap's reader", () => kernelSensor?.close());
    kernelTrap = trap;
    await refreshIgnored();
    await refreshHostFacts();
    // The trap first, when closing: from then on no block happens that the reader could miss.
    resources.add("the kernel trap", () => trap.disarm());
    const armed = await trap.start();
    if (!armed.ok) await fail(armed.error, 1);
    await reconcileKernel();
    kernelTimers.push(
      // Host facts (addresses, gateways, name servers) change: the kernel follows within 2 s.
      setInterval(() => void refreshHostFacts(), LIMITS.kernelHostFactsRefreshMs),
      // `nft flush ruleset` removes the trap; the responder recreates only its own table.
      setInterval(() => void rearmKernelTrap(), LIMITS.kernelTrapRearmCheckMs),
    );
    resources.add("the kernel trap's timers", () => {
      for (const t of kernelTimers) clearInterval(t);
    });
    checkpoint();
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
    const never = neverBlockable(address);
    if (never !== undefined) return { ok: false, code: "protected", message: `protected: ${never}` };
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
    await reactor.respond(record, address);
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
        ...catchUp.stats(),
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
  resources.add("the control socket", () => controlServer?.close());
  checkpoint();

  // 13. Armed: tests and operators wait for this line.
  log.notice(msg.active());

  // 14. Signals: SIGTERM/SIGINT stop (blocks stay in force); SIGHUP re-reads the ignore file.
  //     One that arrived during start-up is applied now.
  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const reload = async (): Promise<void> => {
    try {
      const next = await loadConfigOrThrow(options.configPath);
      ignore = next.ignore;
      await refreshIgnored();
      log.notice(msg.reloaded(options.configPath));
      const changed = changedConfigKeys(config, next.config);
      if (changed.length > 0) {
        log.warn(`adminalert: changed keys take effect at the next restart: ${changed.join(", ")}`);
      }
    } catch (err) {
      log.error(msg.reloadFailed(options.configPath, (err as Error).message.replaceAll("\n", "; ")));
    }
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      signals.close();
      for (const line of msg.shuttingDown()) log.notice(line);
      await closeAll();
      resolveStopped();
    })();
    return stopping;
  };
  signals.deliver((signal: DaemonSignal) => void (signal === "SIGHUP" ? reload() : stop()));
  return { pipeline, registry, stopped, unblock, block, stop };
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
