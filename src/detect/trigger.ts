/**
 * Per-source hit counting for SCAN_TRIGGER (spec §4). Pure: time is an argument.
 *
 * The table is keyed by an attacker-chosen value (the source address), so it has a hard cap:
 * a Map kept in least-recently-hit order; when full, the least recently hit source is evicted
 * and counted. Counts are forgotten after `windowMs` without a hit from that source.
 */

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
  readonly #maxSources: number;
  readonly #windowMs: number;
  readonly #entries = new Map<string, Entry>();
  #evictions = 0;

  constructor(options: TriggerOptions) {
    this.#threshold = Math.max(1, options.scanTrigger);
    this.#maxSources = Math.max(1, options.maxSources);
    this.#windowMs = options.windowMs;
  }

  /** Records one hit; returns the source's count including this hit. */
  record(source: string, nowMs: number): number {
    const entries = this.#entries;
    let entry = entries.get(source);
    if (entry !== undefined) {
      entries.delete(source); // re-inserted below: Map order is recency order
      if (nowMs - entry.lastMs > this.#windowMs) entry.count = 0;
    } else {
      if (entries.size >= this.#maxSources) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
        this.#evictions++;
      }
      entry = { count: 0, lastMs: nowMs };
    }
    entry.count++;
    entry.lastMs = nowMs;
    entries.set(source, entry);
    return entry.count;
  }

  /** True when a source with this count has reached the trigger. */
  reached(count: number): boolean {
    return count >= this.#threshold;
  }

  /** True exactly on the hit that makes the count reach the trigger. */
  fires(count: number): boolean {
    return count === this.#threshold;
  }

  forget(source: string): void {
    this.#entries.delete(source);
  }

  /** Drops entries idle for longer than the window (call now and then, not per hit). */
  sweep(nowMs: number): void {
    for (const [source, entry] of this.#entries) {
      if (nowMs - entry.lastMs <= this.#windowMs) break; // the rest are more recent
      this.#entries.delete(source);
    }
  }

  stats(): TriggerStats {
    return { tracked: this.#entries.size, evictions: this.#evictions };
  }
}
