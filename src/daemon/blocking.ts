/**
 * Start-up steps 7 to 9 and the blocks' life after: the stages a hit goes through (built by the
 * one builder, stages.ts), the table of blocks with its files and state, the reactor; lifting
 * (expiry, `unblock`), putting back what survived the last run, and blocking by hand.
 */

import type { RunOptions } from "../cli/args.js";
import type { Config } from "../config/types.js";
import type { ControlResult } from "../control/responses.js";
import { canonicalIp, neverBlockable, parseIp } from "../decode/address.js";
import { LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { DEFAULT_RESOLVER, NameResolver } from "../log/resolver.js";
import type { Decision } from "../policy/policy.js";
import type { ResourceStack } from "../resources.js";
import { Reactor } from "../respond/reactor.js";
import { buildStages, type Stages } from "../stages.js";
import { BlockRegistry } from "../state/blocks.js";
import { ExpiryTimer } from "../state/expiry.js";
import { HistoryFile, historyLineOf } from "../state/history.js";
import type { BlockRecord, Hit, Mode } from "../vocabulary.js";
import type { OpenedState } from "./files.js";
import type { ProtectedSources } from "./protected-sources.js";
import type { StartedResponders } from "./responders.js";

export interface BlockKeeperDeps {
  readonly config: Config;
  readonly options: RunOptions;
  readonly log: Log;
  readonly state: OpenedState;
  readonly responders: StartedResponders;
  readonly protect: ProtectedSources;
  readonly resources: ResourceStack;
  readonly monoClockMs: () => number;
  readonly wallClockMs: () => number;
  /** KERNEL_TRAP: a kernel block the pipeline does not record as a new one (kernel-trap.ts). */
  readonly onKernelBlock: (hit: Hit, decision: Decision) => void;
}

export class BlockKeeper {
  readonly registry: BlockRegistry;
  readonly reactor: Reactor;
  readonly stages: Stages;
  readonly #d: BlockKeeperDeps;
  readonly #history: HistoryFile;
  readonly #expiry: ExpiryTimer;
  /** PROBATION_TIMEOUT with a blocker whose bans do not time out: when the next one ends. */
  #probationTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** FLEET_URL: told of each hit the pipeline looked at (the fleet-wide trigger, fleet.ts). */
  onAdmittedHit: ((hit: Hit) => void) | undefined;

  constructor(d: BlockKeeperDeps) {
    this.#d = d;
    const { config, log, state, responders, resources, wallClockMs } = d;
    this.registry = new BlockRegistry(config.blockedFile, LIMITS.maxBlocks, state.store, state.catchUp);
    this.#history = new HistoryFile(config.historyFile);
    this.reactor = new Reactor({
      config,
      log,
      registry: this.registry,
      history: this.#history,
      hostsDeny: responders.hostsDeny,
      firewall: responders.firewall,
      wallClockMs,
      catchUp: state.catchUp,
    });
    // Closed after the reactions and before the responders and the state: a last try for
    // records still behind (a restart also catches up).
    resources.add("the records still behind", async () => {
      state.catchUp.stop();
      await state.catchUp.drain();
    });
    const resolver = config.resolveHost
      ? new NameResolver({ ...DEFAULT_RESOLVER, monoClockMs: d.monoClockMs })
      : undefined;
    this.stages = buildStages({
      config,
      limits: LIMITS,
      queries: {
        ...this.#queries(),
        isBlocked: (a) => this.registry.has(a),
        priorOffences: (a) => state.store.offences(a),
      },
      log,
      registry: this.registry,
      reactor: this.reactor,
      recordOffence: (address) => void state.store.recordOffence(address, wallClockMs()),
      wallClockMs,
      nameOf: resolver && ((address) => resolver.nameOf(address)),
      // -d: every decision, on stderr only (never to syslog).
      trace: d.options.debug ? (line) => process.stderr.write(`debug: ${line}\n`) : undefined,
      onKernelBlock: d.onKernelBlock,
    });
    this.#expiry = new ExpiryTimer(
      state.store,
      (b) => this.lift(this.registry.get(b.address) ?? b, "expired"),
      wallClockMs,
    );
    resources.add("the expiry timer", () => {
      this.#expiry.stop();
      this.#stopped = true;
      clearTimeout(this.#probationTimer);
    });
    // Closed before the expiry timer: a reaction still under way may schedule it.
    resources.add("the reactions under way", () => this.stages.pipeline.settle());
  }

  #queries() {
    return { isIgnored: this.#d.protect.isIgnored, neverBlockReason: this.#d.protect.neverBlockReason };
  }

  /**
   * Step 9: reconcile with what survived the last run: lift what expired meanwhile, put the
   * rest back in force (idempotent steps only), write history lines a crash left unwritten.
   */
  async restore(): Promise<void> {
    const { state, log, config, wallClockMs } = this.#d;
    state.store.pruneOffenders(wallClockMs() - LIMITS.offenderMemoryMs);
    for (const b of this.registry.load()) {
      if (b.expiresAtMs !== 0 && b.expiresAtMs <= wallClockMs()) {
        await this.lift(b, "expired");
        continue;
      }
      await this.reactor.reapply(b);
      if (!b.recorded) await this.reactor.writeHistory(b, historyLineOf(b), true);
    }
    await this.registry.writeFiles(this.#d.options.modes, (r) => historyLineOf(r));
    if (this.registry.size > 0) log.notice(msg.blocksRestored(this.registry.size, config.stateDir));
    this.#expiry.schedule();
  }

  /** A sensor's hit; returns PORT_BANNER for the peer when the hit was reported. */
  readonly onHit = (hit: Hit): string | undefined => {
    const d = this.stages.pipeline.onHit(hit);
    if (d.kind === "respond") this.#expiry.schedule();
    else if (d.kind === "probation") this.#scheduleProbationEnd();
    if (d.kind !== "ignored") this.onAdmittedHit?.(hit);
    return d.kind !== "ignored" && d.kind !== "counted" ? this.#d.config.portBanner : undefined;
  };

  /**
   * Probations the daemon lifts (a blocker without element timeouts): one timer, for the next
   * to end (every probation lasts as long, so they end in the order they began).
   */
  #scheduleProbationEnd(): void {
    if (this.#probationTimer !== undefined || this.#stopped) return;
    const next = this.stages.policy.probation.nextLiftMs();
    if (next === undefined) return;
    this.#probationTimer = setTimeout(
      () => {
        this.#probationTimer = undefined;
        const ended = this.stages.policy.probation.takeEnded(this.#d.monoClockMs());
        for (const address of ended) void this.#endProbation(address);
        this.#scheduleProbationEnd();
      },
      Math.max(0, next - this.#d.monoClockMs()),
    );
  }

  async #endProbation(address: string): Promise<void> {
    if (this.registry.has(address)) return;
    await this.#liftProbation(address);
    this.#d.log.notice(msg.probationEnded(address), { ip: address });
  }

  /** The firewall step of a probation, whoever made it (the kernel's or ours; idempotent). */
  async #liftProbation(address: string): Promise<void> {
    const ip = parseIp(address);
    if (ip !== undefined)
      await this.reactor.liftProbation({ address, family: ip.family, port: 0, mode: "tcp" });
  }

  /** `blocked`: the sources on probation now (at most the table's capacity). */
  probationList(): (BlockRecord & { readonly probation: true })[] {
    return this.stages.policy.probation
      .list(this.#d.monoClockMs(), LIMITS.probationCapacity)
      .map(({ address, entry }) => ({
        address,
        family: parseIp(address)?.family ?? 4,
        mode: entry.mode,
        port: entry.port,
        sinceMs: entry.sinceWallMs,
        expiresAtMs: entry.untilWallMs,
        level: 1,
        probation: true,
      }));
  }

  /** `status`: PROBATION_TIMEOUT's counters. */
  probationCounters(): Record<string, number> {
    const table = this.stages.policy.probation;
    return {
      probations: table.started,
      onProbation: table.countOn(this.#d.monoClockMs()),
      probationForgotten: table.evicted,
    };
  }

  /** Expiry and `unblock`: the host is lifted everywhere it was blocked. */
  async lift(record: BlockRecord, why: "expired" | "unblocked"): Promise<void> {
    try {
      await this.reactor.lift(record);
    } finally {
      await this.registry.release(record.address);
    }
    const line = why === "expired" ? msg.blockExpired(record.address) : msg.unblocked(record.address);
    this.#d.log.notice(line, { ip: record.address });
  }

  readonly unblock = async (text: string): Promise<ControlResult> => {
    const address = canonicalIp(text);
    if (address === undefined) return { ok: false, code: "failed", message: `${text} is not an IP address` };
    const record = this.registry.get(address);
    const onProbation = this.stages.policy.probation.end(address, this.#d.monoClockMs(), true);
    if (record !== undefined) await this.lift(record, "unblocked");
    else {
      // A probation the kernel trap made while the daemon was down is lifted too.
      await this.#liftProbation(address);
      if (onProbation === undefined) return { ok: true, changed: false, message: "not blocked" };
      this.#d.log.notice(msg.unblocked(address), { ip: address });
    }
    this.stages.trigger.forget(address);
    return { ok: true, changed: true, message: record === undefined ? "probation lifted" : "unblocked" };
  };

  /**
   * A block from the fleet (daemon/fleet.ts), through this host's own policy as a hit that
   * reached its trigger: ignore list, own addresses, gateways, name servers, BLOCK_*, the block
   * budget. The fleet's times are kept, so the block expires at the same moment fleet-wide.
   */
  readonly applyFleet = async (record: BlockRecord, classification: string): Promise<ControlResult> => {
    const { policy } = this.stages;
    const refused = (code: string, message: string): ControlResult => ({ ok: false, code, message });
    if (!policy.admits(record.address)) return refused("protected", "ignore list, loopback or this host");
    const hit: Hit = { ...record, classification, ipOptions: false, nowMs: this.#d.monoClockMs() };
    const d = policy.decide(hit, 1, true);
    if (d.kind === "already-blocked") return { ok: true, changed: false, message: "already blocked" };
    if (d.kind === "protected") return refused("protected", d.reason);
    if (d.kind === "held-back") return refused("limit", "MAX_BLOCKS_PER_MINUTE reached");
    if (d.kind !== "respond") return refused("protected", "BLOCK_TCP/BLOCK_UDP is 0 (log only)");
    const kept: BlockRecord = { ...record, level: d.level };
    if (!this.registry.claim(kept)) return refused("limit", "the table of blocks is full");
    await this.reactor.respond(kept, kept.address, "command");
    this.#expiry.schedule();
    return { ok: true, changed: true, message: "blocked" };
  };

  /** `portsentry block`: by hand, under the same protections as a sensor's block. */
  readonly block = async (text: string): Promise<ControlResult> => {
    const ip = parseIp(text);
    const address = ip && canonicalIp(text);
    if (ip === undefined || address === undefined) {
      return { ok: false, code: "failed", message: `${text} is not an IP address` };
    }
    const never = neverBlockable(address);
    if (never !== undefined) return { ok: false, code: "protected", message: `protected: ${never}` };
    const { protect } = this.#d;
    if (protect.isIgnored(address) || protect.neverBlockReason(address) !== undefined) {
      return {
        ok: false,
        code: "protected",
        message: "protected: ignore list, loopback, this host, a gateway or a name server",
      };
    }
    if (this.registry.has(address)) return { ok: true, changed: false, message: "already blocked" };
    const mode: Mode = this.#d.options.modes[0] ?? "tcp";
    const sinceMs = this.#d.wallClockMs();
    // The ban length is policy's, as for a sensor's block; the offence counts once claimed.
    const banSec = this.stages.policy.banSecondsFor(address);
    const record: BlockRecord = {
      address,
      family: ip.family,
      mode,
      port: 0,
      sinceMs,
      expiresAtMs: banSec > 0 ? sinceMs + banSec * 1000 : 0,
      level: 1,
    };
    if (!this.registry.claim(record))
      return { ok: false, code: "limit", message: "the table of blocks is full" };
    this.#d.state.store.recordOffence(address, sinceMs);
    await this.reactor.respond(record, address, "command");
    this.#expiry.schedule();
    return { ok: true, changed: true, message: "blocked" };
  };
}
