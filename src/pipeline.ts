/**
 * One hit's way through the stages: policy admits it (not ignore list, loopback, own address), detect
 * counts it (SCAN_TRIGGER), it is logged, policy decides, the reactor responds. Every sensor
 * (trap ports, capture, replay) feeds `onHit`; nothing here waits on I/O before the reaction
 * has been started, so the firewall step goes out in the same tick as the probe.
 */

import type { TriggerTable } from "./detect/trigger.js";
import type { Log } from "./log/logger.js";
import * as msg from "./log/messages.js";
import type { Decision, Policy } from "./policy/policy.js";
import { TOP_CAPACITY, TopCounts } from "./state/top-sources.js";
import { type BlockRecord, type Hit, type Mode, protocolOf } from "./vocabulary.js";

/** What the pipeline asks of a reactor: the daemon's `Reactor`, or replay's dry run. */
export interface Reactions {
  /** Reacts to `record` (already claimed); `name` is the host's display name. */
  /** `origin`: "kernel-trap" when the kernel made the block, else "detection". */
  respond(
    record: BlockRecord,
    name: string | Promise<string>,
    origin: "detection" | "kernel-trap",
  ): Promise<void>;
  /** PROBATION_TIMEOUT: drops `hit`'s source for `banSec` with the firewall only; absent in a dry run. */
  probation?(hit: Hit, banSec: number): Promise<void>;
  /** Whether a probation made by `probation` is lifted by the daemon (not the kernel). */
  readonly probationLiftedByDaemon?: boolean;
}

/** What the pipeline asks of the table of blocks: the daemon's `BlockRegistry`, or replay's. */
export interface BlockClaims {
  readonly full: boolean;
  /** Claims the address at once; false when already blocked or the table is full. */
  claim(record: BlockRecord): boolean;
}

export interface PipelineCounters {
  hits: number;
  ignored: number;
  detections: number;
  heldBack: number;
  reactionErrors: number;
}

export interface PipelineDeps {
  readonly log: Log;
  readonly trigger: TriggerTable;
  readonly policy: Policy;
  readonly registry: BlockClaims;
  readonly reactor: Reactions;
  /** Counts a new block of `address` (after the decision: the state's write). */
  readonly recordOffence: (address: string) => void;
  readonly maxBlocksPerMinute: number;
  readonly wallClockMs: () => number;
  /** RESOLVE_HOST: the host's display name, at once or later; absent: the address. */
  readonly nameOf?: (address: string) => string | Promise<string>;
  /** -d: one line per decision. */
  readonly trace?: (line: string) => void;
  /**
   * KERNEL_TRAP: a kernel block that is not recorded as a new block (the source is ignored,
   * protected or already blocked): the daemon lifts or re-applies the kernel's element.
   */
  readonly onKernelBlock?: (hit: Hit, decision: Decision) => void;
}

export class Pipeline {
  readonly #d: PipelineDeps;
  readonly counters: PipelineCounters = {
    hits: 0,
    ignored: 0,
    detections: 0,
    heldBack: 0,
    reactionErrors: 0,
  };
  /** Hits by mode and classification, for /metrics. Keys are our own names, never an attacker's. */
  readonly probeKinds = new Map<Mode, Map<string, number>>();
  /** Sources and ports (`protocol << 16 | port`, 6 TCP, 17 UDP) with the most probes, ignored
   *  sources left out; bounded. */
  readonly topSources = new TopCounts<string>(TOP_CAPACITY);
  readonly topPorts = new TopCounts<number>(TOP_CAPACITY);
  readonly #pending = new Set<Promise<void>>();

  constructor(deps: PipelineDeps) {
    this.#d = deps;
  }

  onHit(hit: Hit): Decision {
    const d = this.#d;
    this.counters.hits++;
    if (!d.policy.admits(hit.address)) {
      this.counters.ignored++;
      if (hit.kernelBlocked) d.onKernelBlock?.(hit, { kind: "ignored" });
      this.#countKind(hit);
      return { kind: "ignored" };
    }
    const count = d.trigger.record(hit.address, hit.nowMs);
    const decision = d.policy.decide(hit, count, d.trigger.reached(count));
    if (decision.kind === "held-back") this.counters.heldBack++;
    d.trace?.(
      `${hit.mode} ${hit.address} port ${hit.port} ${hit.classification}: hit ${count}, ${decision.kind}`,
    );
    // RESOLVE_HOST never delays the decision or the block: only the log lines wait for a name.
    const name = d.nameOf?.(hit.address) ?? hit.address;
    if (decision.kind === "respond") this.#respond(hit, decision, name);
    else if (decision.kind === "probation") this.#probation(hit, decision.banSec);
    if (decision.kind !== "respond" && hit.kernelBlocked) d.onKernelBlock?.(hit, decision);
    if (typeof name === "string") this.#log(hit, decision, name);
    else void name.then((resolved) => this.#log(hit, decision, resolved));
    // The /metrics tables last: the block and the line do not wait for them (the first probe's
    // line came 0.04 ms later with these first).
    this.#countKind(hit);
    this.topSources.add(hit.address);
    this.topPorts.add((protocolOf(hit.mode) === "TCP" ? 6 : 17) * 65_536 + hit.port);
    return decision;
  }

  /** Probes by mode and classification, ignored ones included. */
  #countKind(hit: Hit): void {
    let kinds = this.probeKinds.get(hit.mode);
    if (kinds === undefined) {
      kinds = new Map();
      this.probeKinds.set(hit.mode, kinds);
    }
    kinds.set(hit.classification, (kinds.get(hit.classification) ?? 0) + 1);
  }

  /** The hit's 1.2 line, and the decision's when it has one. */
  #log(hit: Hit, decision: Decision, name: string): void {
    const d = this.#d;
    const proto = protocolOf(hit.mode);
    const event = { ip: hit.address, port: hit.port, proto, mode: hit.mode, type: hit.classification };
    // 1.2's basic modes (PortSentryModeTCP/UDP) both say `Connect from host:`; its stealth and
    // advanced modes name the scan. Log watchers (logcheck, swatch) match these lines.
    d.log.limited(
      hit.address,
      hit.classification === "Connect" || hit.mode === "udp"
        ? msg.connectFrom(name, hit.address, proto, hit.port)
        : msg.scanFrom(hit.classification, name, hit.address, proto, hit.port),
      event,
    );
    if (hit.ipOptions) d.log.limited(hit.address, msg.ipOptions(name, hit.address, proto, hit.port), event);
    switch (decision.kind) {
      case "log-only":
        d.log.limited(hit.address, msg.ignoringResponse(proto), event);
        break;
      case "protected":
        if (decision.log) d.log.limited(hit.address, msg.neverBlock(hit.address, decision.reason), event);
        break;
      case "already-blocked":
        if (decision.log) d.log.notice(msg.alreadyBlocked(name, hit.address), event);
        break;
      case "probation":
        d.log.limited(hit.address, msg.probation(hit.address, decision.banSec, decision.pastBudget), event);
        break;
      case "held-back":
        // A forged sweep holds back a block per packet: these lines share one budget.
        if (decision.log)
          d.log.limited("held-back", msg.blockRateLimited(hit.address, d.maxBlocksPerMinute), event);
        break;
    }
  }

  /** Resolves when every reaction started so far has finished (for shutdown and tests). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  /**
   * PROBATION_TIMEOUT: remembered at once (the source's next probe is a repeat), applied by the
   * firewall unless the kernel trap did it already.
   */
  #probation(hit: Hit, banSec: number): void {
    const d = this.#d;
    const byDaemon = hit.kernelBlocked !== true && d.reactor.probationLiftedByDaemon === true;
    d.policy.probation.start(hit, banSec * 1000, d.wallClockMs(), byDaemon);
    if (hit.kernelBlocked === true || d.reactor.probation === undefined) return;
    this.#track(
      d.reactor.probation(hit, banSec).then(
        () => {},
        (err: unknown) => {
          this.counters.reactionErrors++;
          d.log.error(msg.reactionFailed(hit.address, (err as Error).message));
        },
      ),
    );
  }

  #track(reaction: Promise<void>): void {
    this.#pending.add(reaction);
    void reaction.finally(() => this.#pending.delete(reaction));
  }

  /** Carries out policy's decision (its ban length included); the offence is counted once claimed. */
  #respond(hit: Hit, decision: Extract<Decision, { kind: "respond" }>, name: string | Promise<string>): void {
    const d = this.#d;
    const sinceMs = d.wallClockMs();
    if (d.registry.full) return;
    const { level, banSec } = decision;
    const record: BlockRecord = {
      address: hit.address,
      family: hit.family,
      mode: hit.mode,
      port: hit.port,
      sinceMs,
      expiresAtMs: banSec > 0 ? sinceMs + banSec * 1000 : 0,
      level,
    };
    if (!d.registry.claim(record)) return;
    // A repeat offender's probation gives way to the long ban (still remembered as one).
    d.policy.probation.end(hit.address, hit.nowMs, false);
    d.recordOffence(hit.address);
    this.counters.detections++;
    const origin = hit.kernelBlocked ? "kernel-trap" : "detection";
    this.#track(
      d.reactor.respond(record, name, origin).catch((err: unknown) => {
        this.counters.reactionErrors++;
        d.log.error(msg.reactionFailed(hit.address, (err as Error).message));
      }),
    );
  }
}
