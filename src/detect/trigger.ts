/**
 * Per-source hit counting for SCAN_TRIGGER (spec §4). Pure: time is an argument.
 *
 * The table is keyed by an attacker-chosen value (the source address), so it has a hard cap:
 * an LRU (lru-cache: O(1) per hit); when full, the least recently hit source is evicted and
 * counted. Counts are forgotten after `windowMs` without a hit from that source.
 */

import { LRUCache } from "lru-cache";

export interface TriggerOptions {
  /** SCAN_TRIGGER: 0 and 1 both react on the first hit. */
  readonly scanTrigger: number;
  /** Hard cap on tracked sources. */
  readonly maxSources: number;
  /** A source's count restarts after this long without a hit. */
  readonly windowMs: number;
}

export interface TriggerStats {
  readonly tracked: number;
  readonly evictions: number;
}

interface Entry {
  count: number;
  lastMs: number;
}

export class TriggerTable {
  readonly #threshold: number;
  readonly #windowMs: number;
  /** Least-recently-hit eviction in O(1) (a Map alone costs a walk over deleted slots). */
  readonly #entries: LRUCache<string, Entry>;
  #evictions = 0;

  constructor(options: TriggerOptions) {
    this.#threshold = Math.max(1, options.scanTrigger);
    this.#windowMs = options.windowMs;
    this.#entries = new LRUCache<string, Entry>({
      max: Math.max(1, options.maxSources),
      dispose: (_entry, _source, reason) => {
        if (reason === "evict") this.#evictions++;
      },
    });
  }

  /**
   * Records one hit; returns the source's count including this hit. With SCAN_TRIGGER 0 or 1
   * every hit reaches the trigger: nothing is stored (and returned as 1), so a spoofed flood
   * costs no table churn.
   */
  record(source: string, nowMs: number): number {
    if (this.#threshold === 1) return 1;
    const entry = this.#entries.get(source); // marks it most recently hit
    if (entry === undefined) {
      this.#entries.set(source, { count: 1, lastMs: nowMs });
      return 1;
    }
    if (nowMs - entry.lastMs > this.#windowMs) entry.count = 0;
    entry.count++;
    entry.lastMs = nowMs;
    return entry.count;
  }

  /** True when a source with this count has reached the trigger. */
  reached(count: number): boolean {
    return count >= this.#threshold;
  }

  forget(source: string): void {
    this.#entries.delete(source);
  }

  /** Drops entries idle for longer than the window (call now and then, not per hit). */
  sweep(nowMs: number): void {
    for (const source of [...this.#entries.rkeys()]) {
      const entry = this.#entries.peek(source);
      if (entry !== undefined && nowMs - entry.lastMs <= this.#windowMs) break; // the rest are more recent
      this.#entries.delete(source);
    }
  }

  stats(): TriggerStats {
    return { tracked: this.#entries.size, evictions: this.#evictions };
  }
}
