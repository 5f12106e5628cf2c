/**
 * PROBATION_TIMEOUT (issue #14, "a budget the attacker cannot spend"): the sources this daemon
 * put on probation, a short firewall-only ban for an unverified source's first probe. A source
 * that probes again, during its probation or after it while it is remembered here, is a repeat
 * offender and gets the long ban. Pure; bounded: at most `capacity` sources (the least
 * recently put on probation is forgotten first, and counted), each remembered `memoryMs` after
 * its probation began.
 */

import { LRUCache } from "lru-cache";
import type { Hit, Mode } from "../vocabulary.js";

export interface ProbationEntry {
  /** Monotonic ms when the probation began. */
  readonly startMs: number;
  /** Monotonic ms when the probation ends (ended early: set to then). */
  untilMs: number;
  /** Wall-clock ms when it began and ends (for `blocked`). */
  readonly sinceWallMs: number;
  readonly untilWallMs: number;
  /** The probe that put it there. */
  readonly mode: Mode;
  readonly port: number;
  /** The daemon lifts it at `untilMs` (a firewall without element timeouts). */
  liftByDaemon: boolean;
}

export interface ProbationOptions {
  readonly capacity: number;
  /** How long a source stays known as one that was on probation. */
  readonly memoryMs: number;
}

export class ProbationTable {
  readonly #entries: LRUCache<string, ProbationEntry>;
  readonly #memoryMs: number;
  /** Sources forgotten by the capacity bound while on probation. */
  #evicted = 0;
  /** Sources put on probation since start. */
  #started = 0;
  /** Probations the daemon must lift, in order of their end (every probation lasts as long). */
  readonly #toLift: { readonly address: string; readonly untilMs: number }[] = [];
  #toLiftHead = 0;

  constructor(options: ProbationOptions) {
    this.#memoryMs = options.memoryMs;
    // The memory is judged on the injected clock (`knows`), not by the cache's own timers.
    this.#entries = new LRUCache<string, ProbationEntry>({
      max: Math.max(1, options.capacity),
      dispose: (_value, _key, reason) => {
        if (reason === "evict") this.#evicted++;
      },
    });
  }

  /** Puts `hit`'s source on probation from `hit.nowMs` for `durationMs`. */
  start(hit: Hit, durationMs: number, sinceWallMs: number, liftByDaemon: boolean): void {
    const { address, nowMs, mode, port } = hit;
    const untilMs = nowMs + durationMs;
    const untilWallMs = sinceWallMs + durationMs;
    this.#entries.set(address, {
      startMs: nowMs,
      untilMs,
      sinceWallMs,
      untilWallMs,
      mode,
      port,
      liftByDaemon,
    });
    this.#started++;
    if (liftByDaemon) this.#toLift.push({ address, untilMs });
  }

  /** Whether `address` is on probation now. */
  isOn(address: string, nowMs: number): boolean {
    const e = this.#entries.peek(address);
    return e !== undefined && e.untilMs > nowMs;
  }

  /** Whether `address` was put on probation within the memory (on it now or not). */
  knows(address: string, nowMs: number): boolean {
    const e = this.#entries.peek(address);
    return e !== undefined && nowMs - e.startMs < this.#memoryMs;
  }

  /** The entry of a source on probation now. */
  get(address: string, nowMs: number): ProbationEntry | undefined {
    const e = this.#entries.peek(address);
    return e !== undefined && e.untilMs > nowMs ? e : undefined;
  }

  /**
   * Ends a probation early (a long ban replaced it, or `unblock`); with `forget`, the source is
   * no longer a known repeat offender either. Returns the entry it was on.
   */
  end(address: string, nowMs: number, forget: boolean): ProbationEntry | undefined {
    const e = this.get(address, nowMs);
    const was = e === undefined ? undefined : { ...e };
    if (forget) this.#entries.delete(address);
    // Not `set`: that would make it the most recently put on, and the last to be forgotten.
    else if (e !== undefined) {
      e.untilMs = nowMs;
      e.liftByDaemon = false;
    }
    return was;
  }

  /** Sources on probation now, at most `max` of them (for `blocked`). */
  list(nowMs: number, max: number): { readonly address: string; readonly entry: ProbationEntry }[] {
    const out: { address: string; entry: ProbationEntry }[] = [];
    for (const [address, entry] of this.#entries.entries()) {
      if (out.length >= max) break;
      if (entry.untilMs > nowMs) out.push({ address, entry });
    }
    return out;
  }

  /**
   * The probations the daemon lifts that ended by `nowMs` (each once; one that was ended
   * early or renewed is left out).
   */
  takeEnded(nowMs: number): string[] {
    const out: string[] = [];
    const queue = this.#toLift;
    while (
      this.#toLiftHead < queue.length &&
      (queue[this.#toLiftHead] as { untilMs: number }).untilMs <= nowMs
    ) {
      const { address, untilMs } = queue[this.#toLiftHead] as { address: string; untilMs: number };
      this.#toLiftHead++;
      const e = this.#entries.peek(address);
      if (e?.liftByDaemon && e.untilMs === untilMs) out.push(address);
    }
    if (this.#toLiftHead > 1024 && this.#toLiftHead * 2 > queue.length) {
      queue.splice(0, this.#toLiftHead);
      this.#toLiftHead = 0;
    }
    return out;
  }

  /** Monotonic ms of the next probation the daemon lifts, if any. */
  nextLiftMs(): number | undefined {
    return this.#toLift[this.#toLiftHead]?.untilMs;
  }

  /** Sources on probation now (a walk over the table: for `status`, not the hit path). */
  countOn(nowMs: number): number {
    let n = 0;
    for (const [, e] of this.#entries.entries()) if (e.untilMs > nowMs) n++;
    return n;
  }

  get started(): number {
    return this.#started;
  }

  get evicted(): number {
    return this.#evicted;
  }
}
