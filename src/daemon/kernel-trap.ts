/**
 * Start-up step 10b, KERNEL_TRAP: the kernel drops the first probe to a trap port and blocks
 * its source; the NFLOG sensor reports each such block as a hit (flagged kernelBlocked), which
 * the pipeline records like its own. This keeps the kernel's never-trapped sets in step with
 * the ignore list and this host's facts, settles the kernel blocks the pipeline does not
 * record, records the blocks the kernel made while nobody listened, and puts the trap back
 * after an `nft flush ruleset`.
 */

import type { RunOptions } from "../cli/args.js";
import type { Config } from "../config/types.js";
import { reconciledHit, unrecordedBlocks } from "../kernel-trap-reconcile.js";
import { CHANGE_FEEDS, LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { type KernelTrapPlan, kernelTrapPlan } from "../policy/kernel-trap-plan.js";
import type { Decision } from "../policy/policy.js";
import { candidatePorts } from "../port-set.js";
import type { ResourceStack } from "../resources.js";
import { KernelTrap } from "../respond/kernel-trap.js";
import { NftablesResponder } from "../respond/nftables.js";
import { CommandFeed, followChanges } from "../sensors/command-feed.js";
import { type KernelTrapSensor, openKernelTrapSensor } from "../sensors/kernel-trap-sensor.js";
import { readListeningAsync } from "../sensors/listening.js";
import { defaultGateways, nameServers, ownAddresses, subnetBroadcasts } from "../sensors/local-addresses.js";
import { StartError } from "../start-error.js";
import type { Hit } from "../vocabulary.js";
import type { BlockKeeper } from "./blocking.js";
import type { ProtectedSources } from "./protected-sources.js";
import type { StartedResponders } from "./responders.js";

export interface KernelTrapDeps {
  readonly config: Config;
  readonly options: RunOptions;
  readonly log: Log;
  readonly protect: ProtectedSources;
  readonly responders: StartedResponders;
  readonly monoClockMs: () => number;
}

export class KernelTrapWiring {
  readonly plan: KernelTrapPlan;
  readonly #d: KernelTrapDeps;
  #keeper: BlockKeeper | undefined;
  #trap: KernelTrap | undefined;
  #sensor: KernelTrapSensor | undefined;
  /** The kernel's exact count of probes past the limit, as last read (`refreshCounters`). */
  #overLimit = 0;
  /** PROBATION_TIMEOUT: the kernel's exact count of sources it put on probation, as last read. */
  #probations = 0;
  /** Log-only modes: the kernel's exact count of the probes it judged, as last read. */
  #probes = 0;
  /** PROBATION_TIMEOUT: the kernel's exact count of probes from sources on probation. */
  #repeats = 0;

  constructor(d: KernelTrapDeps) {
    this.#d = d;
    this.plan = kernelTrapPlan(d.config, d.options.modes, (mode) => candidatePorts(mode, d.config));
  }

  /**
   * Arms the trap, if the plan gives the kernel a mode. Order: the reader first (a block logged
   * to a group nobody reads is lost), the never-trapped sets, the rules; then the blocks the
   * kernel made while nobody listened (kill -9).
   */
  async arm(keeper: BlockKeeper, resources: ResourceStack): Promise<void> {
    const { config, options, log } = this.#d;
    this.#keeper = keeper;
    for (const line of msg.kernelTrapPlanLines(config, this.plan)) log.notice(line);
    if (this.plan.kernel.length === 0) return;
    const trap = new KernelTrap({
      modes: this.plan.kernel,
      timeoutSec: config.blockTimeoutSec,
      maxBlocksPerMinute: config.maxBlocksPerMinute,
      interfaces: options.interfaces,
      graceSec: config.listenGraceSec,
      ackScans: config.detectAckScans,
      probationSec: config.probationSec,
    });
    const opened = await openKernelTrapSensor({
      group: trap.spec.group,
      onHit: (hit) => void keeper.onHit(hit),
      onGap: () => void this.#reconcile(),
      log,
      monoMs: this.#d.monoClockMs,
    });
    if (!opened.ok) throw new StartError(`kernel trap: ${opened.error}`, 1);
    const sensor = opened.sensor;
    this.#sensor = sensor;
    resources.add("the kernel trap's reader", () => sensor.close());
    this.#trap = trap;
    await this.refreshIgnored();
    await this.#refreshHostFacts();
    // The trap first, when closing: from then on no block happens that the reader could miss.
    resources.add("the kernel trap", () => trap.disarm());
    // The responder made the table at step 6 (a re-arm after `nft flush ruleset` makes it again).
    const armed = await trap.start(true);
    if (!armed.ok) throw new StartError(armed.error, 1);
    await this.#reconcile();
    await this.refreshGrace();
    // Host facts (addresses, gateways, name servers) change: the kernel follows, on the change
    // when it is watched, else on a timer.
    const stopFacts = followChanges(
      this.#d.protect.hostFacts,
      LIMITS.kernelHostFactsRefreshMs,
      () => void this.#refreshHostFacts(),
    );
    // `nft flush ruleset` removes the trap; the responder recreates only its own table. A chain
    // deleted anywhere is when to look (`nft monitor`); without the monitor, a timer looks.
    const chains = new CommandFeed(["nft", "monitor", "destroy", "chains"], CHANGE_FEEDS.coalesceMs);
    const stopRearm = followChanges(chains, LIMITS.kernelTrapRearmCheckMs, () => void this.#rearm());
    // LISTEN_GRACE: the ports that listen stay in their grace (half the grace: never lapses).
    const graceTimer =
      config.listenGraceSec > 0
        ? setInterval(() => void this.refreshGrace(), (config.listenGraceSec * 1000) / 2)
        : undefined;
    resources.add("the kernel trap's watches", () => {
      chains.close();
      stopFacts();
      stopRearm();
      clearInterval(graceTimer);
    });
  }

  /**
   * Reads the kernel's exact totals (probes past the limit, probations) for `status` and
   * `metrics`: when asked, not on a timer, so that a daemon at rest runs no nft.
   */
  async refreshCounters(): Promise<void> {
    const trap = this.#trap;
    if (trap === undefined) return;
    const probation = this.#d.config.probationSec > 0;
    const [overLimit, probations, repeats, probes] = await Promise.all([
      trap.overLimitCount(),
      probation ? trap.probationCount() : undefined,
      probation ? trap.repeatCount() : undefined,
      this.plan.kernel.some((m) => m.observe === true) ? trap.probeCount() : undefined,
    ]);
    this.#overLimit = overLimit ?? this.#overLimit;
    this.#probations = probations ?? this.#probations;
    this.#repeats = repeats ?? this.#repeats;
    this.#probes = probes ?? this.#probes;
  }

  /** The kernel's counters for `status` (none without the trap). */
  counters(): Record<string, number> {
    if (this.#sensor === undefined) return {};
    const st = this.#sensor.stats();
    return {
      kernelTrapHits: st.hits,
      kernelTrapOverLimit: this.#overLimit,
      kernelTrapOverLimitReports: st.overLimitReports,
      kernelTrapProbations: this.#probations,
      kernelTrapRepeats: this.#repeats,
      kernelTrapProbationRepeats: st.probationRepeatReports,
      kernelTrapProbes: this.#probes,
      kernelTrapSeenReports: st.seenReports,
      kernelTrapGaps: st.gaps,
      kernelTrapUndecoded: st.undecoded,
      nflogDrops: st.kernelDropped,
      nflogRestarts: st.restarts,
    };
  }

  /** Never trapped: the ignore list with loopback (at start and at SIGHUP). */
  async refreshIgnored(): Promise<void> {
    const r = await this.#trap?.setProtected(this.#d.protect.ignore.prefixes());
    if (r !== undefined && !r.ok) this.#d.log.error(msg.error(r.error));
  }

  /**
   * LISTEN_GRACE: the advanced modes' ports that listen now go into (or back to the start of)
   * their grace, so that a service nobody used lately is no trap while it restarts. At start,
   * on SIGHUP and every LISTEN_GRACE/2; the trap's rule adds the ports that get traffic.
   */
  async refreshGrace(): Promise<void> {
    const trap = this.#trap;
    if (trap === undefined || this.#d.config.listenGraceSec <= 0) return;
    const ports = { tcp: [] as number[], udp: [] as number[] };
    for (const m of this.plan.kernel) {
      if (m.mode !== "atcp" && m.mode !== "audp") continue;
      const proto = m.mode === "atcp" ? "tcp" : "udp";
      const listening = await readListeningAsync(proto);
      for (let p = 0; p < 65536; p++) if (listening[p] === 1 && m.ports[p] === 1) ports[proto].push(p);
    }
    const r = await trap.setGrace(ports);
    if (!r.ok) this.#d.log.error(msg.error(r.error));
  }

  /**
   * A kernel block the pipeline does not record as a new one. An already blocked host gets its
   * recorded ban back (its expiry, not the kernel's base timeout); anyone else is let go at
   * once: past MAX_BLOCKS_PER_MINUTE (the kernel's own limit is a token bucket, looser than the
   * one budget; the pipeline logged the held-back line), or the never-trapped sets lagged behind
   * a change (ignore file, host addresses).
   */
  readonly settle = async (hit: Hit, decision: Decision): Promise<void> => {
    const { log, responders, config } = this.#d;
    // PROBATION_TIMEOUT: the kernel's element is the probation policy wanted (a new one, or a
    // repeat offender's past the budget).
    if (decision.kind === "probation" || (decision.kind === "held-back" && config.probationSec > 0)) return;
    const record = this.#keeper?.registry.get(hit.address);
    if (decision.kind === "already-blocked" && record !== undefined) {
      await this.#keeper?.reactor.reapply(record);
      return;
    }
    const firewall = responders.firewall;
    const r = await firewall?.unban(hit);
    if (r !== undefined && !r.ok) log.error(msg.unblockFailed(hit.address, firewall?.name ?? "", r.error));
    if (decision.kind === "held-back") return;
    const why = decision.kind === "protected" ? decision.reason : "it is never acted on";
    log.warn(msg.kernelBlockLifted(hit.address, why));
    await Promise.all([this.refreshIgnored(), this.#refreshHostFacts()]);
  };

  /** This host's addresses and broadcast addresses, gateways and name servers (no nft run when unchanged). */
  async #refreshHostFacts(): Promise<void> {
    const r = await this.#trap?.setHostAddresses([
      ...ownAddresses(),
      ...subnetBroadcasts(),
      ...defaultGateways(),
      ...nameServers(),
    ]);
    if (r !== undefined && !r.ok) this.#d.log.error(msg.error(r.error));
  }

  /** Records the kernel's blocks that the daemon did not hear of (NFLOG gap, kill -9). */
  async #reconcile(): Promise<void> {
    const { responders, log } = this.#d;
    // Only a trapping mode adds to the blocked sets; a log-only one blocks nobody.
    const mode = this.plan.kernel.find((m) => m.observe !== true)?.mode;
    const keeper = this.#keeper;
    if (!(responders.firewall instanceof NftablesResponder) || mode === undefined || keeper === undefined)
      return;
    const listed = await responders.firewall.listBlocked();
    if (!listed.ok) {
      log.error(msg.kernelTrapListFailed(listed.error));
      return;
    }
    for (const entry of unrecordedBlocks(listed.entries, (a) => keeper.registry.has(a))) {
      keeper.onHit(reconciledHit(entry, mode, this.#d.monoClockMs()));
    }
  }

  async #rearm(): Promise<void> {
    const trap = this.#trap;
    if (trap === undefined) return;
    const present = await trap.present();
    if (present !== false) return;
    this.#d.log.warn(msg.kernelTrapRemoved());
    const r = await trap.start();
    if (!r.ok) this.#d.log.error(msg.error(r.error));
  }
}
