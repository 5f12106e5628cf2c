/**
 * The composition root: the daemon's start-up as numbered steps, read top to bottom. Each step
 * adds what it opened to one list of resources; a failure (or a SIGTERM/SIGINT between steps)
 * closes that list in reverse, which leaves the host as a stopped daemon leaves it (blocks in
 * force, no trap, no capture, no socket), and throws StartError. A stop closes the same list.
 * Nothing here decides: policy decides (src/policy), responders act (src/respond).
 */

import { performance } from "node:perf_hooks";
import type { RunOptions } from "../cli/args.js";
import type { IgnoreList } from "../config/ignore.js";
import { loadConfigOrThrow } from "../config/load.js";
import type { Config } from "../config/types.js";
import { socketPathFor } from "../control/protocol.js";
import type { ControlResult, StatusReport } from "../control/responses.js";
import { openServiceNotifier, type ServiceNotifier } from "../control/sd-notify.js";
import { startControlServer } from "../control/server.js";
import { reportReady } from "../control/service-status.js";
import { type Logger, openLogger } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { DEFAULT_RATE_LIMIT } from "../log/ratelimit.js";
import type { Pipeline } from "../pipeline.js";
import { isCaptureMode } from "../port-set.js";
import { ResourceStack } from "../resources.js";
import { describeMissing, neededCapabilities, readUnprivilegedPortStart } from "../sensors/capabilities.js";
import { warmUpKernelTrapPath } from "../sensors/kernel-trap-sensor.js";
import { SignalInbox } from "../signals.js";
import { StartError } from "../start-error.js";
import type { BlockRegistry } from "../state/blocks.js";
import { VERSION } from "../version.js";
import type { Mode } from "../vocabulary.js";
import { warmUpPipeline } from "../warm-up.js";
import { BlockKeeper } from "./blocking.js";
import { openState } from "./files.js";
import { FleetMember } from "./fleet.js";
import { KernelTrapWiring } from "./kernel-trap.js";
import { startMetrics } from "./metrics.js";
import { ProtectedSources } from "./protected-sources.js";
import { startResponders } from "./responders.js";
import { openSensors } from "./sensors.js";
import { handleSignals } from "./signals-step.js";
import { statusReport } from "./status.js";

export interface RunningDaemon {
  readonly pipeline: Pipeline;
  readonly registry: BlockRegistry;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  readonly stopped: Promise<void>;
  unblock(address: string): Promise<ControlResult>;
  block(address: string): Promise<ControlResult>;
  stop(): Promise<void>;
}

/** `signals` were caught at the first line of the command (src/signals.ts). */
export async function startDaemon(
  options: RunOptions,
  signals: SignalInbox = new SignalInbox(),
): Promise<RunningDaemon> {
  // 1. Configuration: every error at once, exit 2.
  let loaded: Awaited<ReturnType<typeof loadConfigOrThrow>>;
  try {
    loaded = await loadConfigOrThrow(options.configPath);
  } catch (err) {
    signals.close();
    throw err;
  }

  // 2. Logging: syslog as configured, mirrored to stderr in the foreground. From here on,
  //    everything opened is closed in reverse by `resources`.
  const log = openLogger({
    facility: loaded.config.syslogFacility,
    level: loaded.config.syslogLevel,
    syslogPath: loaded.config.syslogSocket,
    foreground: !options.daemonize,
    // -v: every hit line of a source (the total cap still holds against floods).
    rateLimit: options.verbose || options.debug ? { perKey: DEFAULT_RATE_LIMIT.total } : undefined,
  });
  log.notice(msg.starting(VERSION));
  const resources = new ResourceStack();
  resources.add("the log", () => log.close());
  // systemd Type=notify (nothing without NOTIFY_SOCKET); its watchdog pings start now.
  const service = openServiceNotifier((line) => log.warn(line));
  resources.add("the service manager's notifications", () => service.close());
  const closeAll = () =>
    resources.closeAll((name, err) =>
      log.error(msg.closeFailed(name, (err as Error).message ?? String(err))),
    );
  try {
    return await arm({
      options,
      config: loaded.config,
      ignore: loaded.ignore,
      log,
      resources,
      signals,
      service,
      closeAll,
    });
  } catch (err) {
    signals.close();
    if (err instanceof StartError && err.exitCode === 0) log.notice(err.message);
    else log.error(msg.error((err as Error).message ?? String(err)));
    await closeAll();
    throw err;
  }
}

interface Arming {
  readonly options: RunOptions;
  readonly config: Config;
  readonly ignore: IgnoreList;
  readonly log: Logger;
  readonly resources: ResourceStack;
  readonly signals: SignalInbox;
  readonly service: ServiceNotifier;
  readonly closeAll: () => Promise<void>;
}

/** Steps 3 to 14; throws to roll back (see startDaemon). */
async function arm(a: Arming): Promise<RunningDaemon> {
  const { options, config, log, resources, signals, service } = a;
  const monoClockMs = () => performance.now();
  const wallClockMs = () => Date.now();
  /** Between steps: a stop signal during start-up rolls back and exits 0. */
  const checkpoint = (): void => {
    const signal = signals.stopRequested;
    if (signal !== undefined) throw new StartError(msg.startInterrupted(signal), 0);
  };

  // 2b. `fleet-enforce` (no mode) is a fleet member only: nothing to do without a fleet.
  if (options.modes.length === 0 && config.fleetUrl === undefined) {
    throw new StartError("fleet-enforce needs FLEET_URL in the config (it applies the fleet's blocks)", 2);
  }

  // 3. Privileges: say precisely which capability is missing, before anything fails obscurely.
  for (const { need, message } of describeMissing(
    neededCapabilities(options.modes, config, readUnprivilegedPortStart()),
  )) {
    if (need.certain) throw new StartError(message, 1);
    log.warn(msg.warning(message));
  }

  // 4. Files and state (files.ts).
  const state = await openState(config, log, resources);
  checkpoint();

  // 5. Who is never acted on: the ignore file, loopback, this host, gateways, name servers.
  const protect = new ProtectedSources(a.ignore, monoClockMs, resources);

  // 6. Responders: the built-in firewall and hosts.deny, created if missing.
  const responders = await startResponders(config, log, resources);
  checkpoint();

  // 7-8. The stages, the table of blocks and the reactor; expiry (blocking.ts). The kernel
  //      trap settles the kernel blocks the pipeline does not record.
  const kernel = new KernelTrapWiring({ config, options, log, protect, responders, monoClockMs });
  const keeper = new BlockKeeper({
    config,
    options,
    log,
    state,
    responders,
    protect,
    resources,
    monoClockMs,
    wallClockMs,
    onKernelBlock: (hit, decision) => void kernel.settle(hit, decision),
  });

  // 9. What survived the last run: expired blocks lifted, the rest back in force.
  await keeper.restore();
  checkpoint();

  // 9b. Warm-up: the hit path and the capture path run synthetic input in scratch copies, so
  //     that the first real probe meets compiled code (docs/benchmarks.md has the figures).
  warmUpPipeline({
    modes: options.modes,
    scanTrigger: config.scanTrigger,
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    queries: {
      isIgnored: protect.isIgnored,
      neverBlockReason: protect.neverBlockReason,
      isBlocked: (x) => keeper.registry.has(x),
      priorOffences: (x) => state.store.offences(x),
    },
  });
  // Only the modes the capture runs: the kernel trap's own need no capture path at all (nor
  // its ~40 modules loaded at start); theirs is the NFLOG reports' path.
  const kernelModes: readonly Mode[] = kernel.plan.kernel.map((k) => k.mode);
  if (kernelModes.length > 0) warmUpKernelTrapPath(() => {}, log);
  const captured = options.modes.filter((m) => isCaptureMode(m) && !kernelModes.includes(m));
  if (captured.length > 0)
    (await import("../sensors/capture-offline.js")).warmUpCapturePath(captured, config, log);

  // 10. Sensors: trap ports and the capture (sensors.ts).
  const sensors = await openSensors(
    config,
    options,
    keeper.onHit,
    log,
    monoClockMs,
    resources,
    checkpoint,
    kernelModes,
    protect.hostFacts,
  );
  checkpoint();

  // 10b. KERNEL_TRAP (kernel-trap.ts).
  await kernel.arm(keeper, resources);
  checkpoint();

  // 10c. FLEET_URL: join the fleet (fleet.ts); a refused password is a failure to start.
  const fleet = await FleetMember.open(config, keeper, log, resources, wallClockMs);
  checkpoint();

  // 11-12. The control socket: status, blocked, unblock, block.
  const startedAtMs = wallClockMs();
  const status = () =>
    withFleet(
      fleet,
      statusReport({
        config,
        modes: options.modes,
        log,
        keeper,
        sensors,
        kernel,
        catchUp: state.catchUp,
        startedAtMs,
        wallClockMs,
      }),
    );
  const control = await startControlServer(
    socketPathFor(config.stateDir),
    {
      status,
      refreshCounters: () => kernel.refreshCounters(),
      blocked: () => [
        ...keeper.registry.list().map((r) => withOrigin(r, fleet?.originOf(r.address))),
        ...keeper.probationList(),
      ],
      unblock: keeper.unblock,
      unblockFleet: fleet?.unblockEverywhere ?? noFleet,
      block: keeper.block,
    },
    log,
  );
  if (!control.ok) throw new StartError(control.message, 1);
  resources.add("the control socket", () => control.server.close());
  await startMetrics(config, status, () => kernel.refreshCounters(), keeper, log, resources);
  checkpoint();

  // 13. Armed: tests and operators wait for this line, systemd for READY=1.
  log.notice(msg.active());
  const { pipeline } = keeper.stages;
  const figures = () => ({
    modes: options.modes,
    blockedHosts: keeper.registry.size,
    hits: pipeline.counters.hits,
  });
  resources.add("the service status line", reportReady(service, figures, monoClockMs));

  // 14. Signals: stop, reload; one that arrived during start-up is applied now.
  const { stopped, stop } = handleSignals({ ...a, protect, kernel, onReload: () => fleet?.reload() });
  return { pipeline, registry: keeper.registry, stopped, unblock: keeper.unblock, block: keeper.block, stop };
}

const noFleet = async (): Promise<ControlResult> => ({
  ok: false,
  code: "failed",
  message: "no fleet: FLEET_URL is not set",
});

function withFleet(fleet: FleetMember | undefined, report: StatusReport): StatusReport {
  return fleet === undefined ? report : { ...report, fleet: fleet.status() };
}

function withOrigin<T extends object>(r: T, origin: string | undefined): T & { origin?: string } {
  return origin === undefined ? r : { ...r, origin };
}
