/**
 * Detections → decisions (house style 4): ignore list and self-protection, SCAN_TRIGGER,
 * BLOCK_TCP/BLOCK_UDP levels, "already blocked", and a cap on new blocks per minute.
 * Pure: no clock, no I/O; every table keyed by an attacker's address is bounded.
 */

import { LRUCache } from "lru-cache";
import { neverBlockable } from "../decode/address.js";
import { type BlockLevel, type Hit, protocolOf } from "../vocabulary.js";
import { type BanDurationOptions, banDurationSec } from "./ban-duration.js";
import { BlockBudget } from "./block-budget.js";
import { ProbationTable } from "./probation.js";

export type Decision =
  /** Not acted on and not logged: the ignore list, our own addresses, loopback. */
  | { readonly kind: "ignored" }
  /** Trigger reached by a host that must never be blocked (gateway, name server); `log` once per window. */
  | { readonly kind: "protected"; readonly reason: string; readonly log: boolean }
  /** Logged; below SCAN_TRIGGER. */
  | { readonly kind: "counted"; readonly count: number }
  /** Trigger reached but BLOCK_* is 0. */
  | { readonly kind: "log-only" }
  /** Trigger reached for a host already blocked; `log` is true once per window. */
  | { readonly kind: "already-blocked"; readonly log: boolean }
  /** Trigger reached, new block refused by the rate limit; `log` once per window. */
  | { readonly kind: "held-back"; readonly log: boolean }
  /**
   * PROBATION_TIMEOUT: an unverified source's first probe (or a repeat offender's past the
   * budget): a firewall-only ban of `banSec`, no hosts.deny, route, command or history line.
   * With `hit.kernelBlocked` the kernel has put it there already.
   */
  | { readonly kind: "probation"; readonly banSec: number; readonly pastBudget: boolean }
  /**
   * React: level 1 = full block chain, level 2 = KILL_RUN_CMD only; the ban lasts `banSec`
   * (0 = forever), grown for a repeat offender.
   */
  | { readonly kind: "respond"; readonly level: 1 | 2; readonly banSec: number };

export interface PolicyOptions {
  readonly blockTcp: BlockLevel;
  readonly blockUdp: BlockLevel;
  /** Hosts never looked at (ignore file, loopback, own addresses): not even logged. */
  readonly isIgnored: (address: string) => boolean;
  /** Why a host must never be blocked though its probes are logged (gateway, name server). */
  readonly neverBlockReason: (address: string) => string | undefined;
  /** Hosts currently blocked by us. */
  readonly isBlocked: (address: string) => boolean;
  /** Blocks this host had before (the offence count kept by the state; read only). */
  readonly priorOffences: (address: string) => number;
  /** BLOCK_TIMEOUT, BLOCK_TIMEOUT_GROWTH, BLOCK_TIMEOUT_MAX. */
  readonly banDuration: BanDurationOptions;
  /** New blocks allowed in any 60 s (0: no limit). */
  readonly maxBlocksPerMinute: number;
  /** Repeated "already blocked" / "held back" lines for one host: at most one per window. */
  readonly repeatLogWindowMs: number;
  /** Cap on the hosts remembered for that repeat window. */
  readonly maxRepeatEntries: number;
  /** PROBATION_TIMEOUT in seconds; 0 (or no firewall to apply it): every ban is a long one. */
  readonly probationSec?: number;
  /** Sources remembered as put on probation, and for how long (LIMITS; give them with probationSec). */
  readonly probationCapacity?: number;
  readonly probationMemoryMs?: number;
}

const MINUTE_MS = 60_000;

export class Policy {
  readonly #opts: PolicyOptions;
  readonly #budget: BlockBudget;
  readonly #lastLogged: LRUCache<string, number>;
  /** PROBATION_TIMEOUT: who is or was on probation. */
  readonly probation: ProbationTable;
  #heldBack = 0;

  constructor(options: PolicyOptions) {
    this.#opts = options;
    this.#budget = new BlockBudget(options.maxBlocksPerMinute, MINUTE_MS);
    this.probation = new ProbationTable({
      // Absent: probation is off too (the stages always give them: LIMITS).
      capacity: options.probationCapacity ?? 1,
      memoryMs: options.probationMemoryMs ?? 0,
    });
    this.#lastLogged = new LRUCache<string, number>({ max: Math.max(1, options.maxRepeatEntries) });
  }

  /** Whether a hit from this source is looked at at all. */
  admits(address: string): boolean {
    return !this.#opts.isIgnored(address);
  }

  /** Decides on a hit whose source has made `count` hits, `reached` meaning SCAN_TRIGGER is met. */
  decide(hit: Hit, count: number, reached: boolean): Decision {
    // KERNEL_TRAP: the kernel has blocked already; the block is recorded, not decided upon.
    const kernel = hit.kernelBlocked === true;
    if (!reached && !kernel) return { kind: "counted", count };
    // Broadcast, multicast, unspecified, loopback, IPv4-mapped: never, whatever the host facts.
    const reason = neverBlockable(hit.address, hit.family) ?? this.#opts.neverBlockReason(hit.address);
    if (reason !== undefined) {
      return { kind: "protected", reason, log: this.#firstInWindow(`p:${hit.address}`, hit.nowMs) };
    }
    const level = kernel ? 1 : protocolOf(hit.mode) === "TCP" ? this.#opts.blockTcp : this.#opts.blockUdp;
    if (this.#opts.isBlocked(hit.address)) {
      return { kind: "already-blocked", log: this.#firstInWindow(`b:${hit.address}`, hit.nowMs) };
    }
    if (level === 0) return { kind: "log-only" };
    if ((this.#opts.probationSec ?? 0) > 0 && level === 1) return this.#probationDecision(hit, count);
    // One budget for both paths: a kernel block past it is held back too (the daemon lifts it).
    if (!this.#budget.take(hit.nowMs)) {
      this.#heldBack++;
      return { kind: "held-back", log: this.#firstInWindow(`h:${hit.address}`, hit.nowMs) };
    }
    return { kind: "respond", level, banSec: this.banSecondsFor(hit.address) };
  }

  /**
   * PROBATION_TIMEOUT: the long ban (and its side effects) only for a verified source (a
   * completed handshake: basic TCP mode) or a repeat offender (a second probe, during the
   * probation or after it while remembered), and only within the budget; anyone else is put
   * on probation, so that neither a forged source nor a spent budget lets a scan through.
   */
  #probationDecision(hit: Hit, count: number): Decision {
    const table = this.probation;
    const repeat =
      hit.mode === "tcp" || hit.probationRepeat === true || count > 1 || table.knows(hit.address, hit.nowMs);
    if (repeat) {
      if (this.#budget.take(hit.nowMs))
        return { kind: "respond", level: 1, banSec: this.banSecondsFor(hit.address) };
      this.#heldBack++;
      // Past the budget a repeat offender stays on (or goes back to) probation.
      if (table.isOn(hit.address, hit.nowMs))
        return { kind: "held-back", log: this.#firstInWindow(`h:${hit.address}`, hit.nowMs) };
    }
    return { kind: "probation", banSec: this.#opts.probationSec ?? 0, pastBudget: repeat };
  }

  /** How long a new block of `address` lasts (0 = forever): its next offence's ban. */
  banSecondsFor(address: string): number {
    return banDurationSec(this.#opts.banDuration, this.#opts.priorOffences(address) + 1);
  }

  /** Blocks refused by the rate limit since start. */
  get heldBack(): number {
    return this.#heldBack;
  }

  #firstInWindow(key: string, nowMs: number): boolean {
    const last = this.#lastLogged.get(key);
    if (last !== undefined && nowMs - last < this.#opts.repeatLogWindowMs) return false;
    this.#lastLogged.set(key, nowMs);
    return true;
  }
}
