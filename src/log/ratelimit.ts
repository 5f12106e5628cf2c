/**
 * Holds back repeated log lines so that a flood cannot flood the log (house style 9).
 * Per key (caller-chosen, often the attacker's address): at most `perKey` lines per window;
 * over all keys: at most `total` lines per window, because spoofed sources give a new key per
 * packet. The key table is bounded (principle 2): least recently used keys are evicted.
 * Pure: time is an argument.
 */

import { LRUCache } from "lru-cache";
import { LOG_RATE_LIMITS } from "../limits.js";

export interface RateLimitOptions {
  readonly windowMs?: number;
  readonly perKey?: number;
  readonly total?: number;
  readonly maxKeys?: number;
}

export type RateDecision =
  /** `suppressed`: lines of this key held back since it last spoke; worth a summary line. */
  { readonly allow: true; readonly suppressed: number } | { readonly allow: false };

export interface RateLimitStats {
  readonly keys: number;
  readonly suppressed: number;
  readonly evicted: number;
}

interface Entry {
  windowStartMs: number;
  count: number;
  suppressed: number;
}

export const DEFAULT_RATE_LIMIT = LOG_RATE_LIMITS;

export class RateLimiter {
  readonly #windowMs: number;
  readonly #perKey: number;
  readonly #total: number;
  /** Least recently used key evicted first, in O(1). */
  readonly #entries: LRUCache<string, Entry>;
  #totalWindowStartMs = Number.NEGATIVE_INFINITY;
  #totalCount = 0;
  #suppressed = 0;
  #evicted = 0;

  constructor(o: RateLimitOptions = {}) {
    this.#windowMs = o.windowMs ?? DEFAULT_RATE_LIMIT.windowMs;
    this.#perKey = o.perKey ?? DEFAULT_RATE_LIMIT.perKey;
    this.#total = o.total ?? DEFAULT_RATE_LIMIT.total;
    this.#entries = new LRUCache<string, Entry>({
      max: Math.max(1, o.maxKeys ?? DEFAULT_RATE_LIMIT.maxKeys),
      dispose: (_entry, _key, reason) => {
        if (reason === "evict") this.#evicted++;
      },
    });
  }

  check(key: string, nowMs: number): RateDecision {
    if (nowMs - this.#totalWindowStartMs >= this.#windowMs) {
      this.#totalWindowStartMs = nowMs;
      this.#totalCount = 0;
    }
    if (this.#totalCount >= this.#total && !this.#entries.has(key)) {
      // The window's budget is spent: a new key (under a spoofed flood, every packet's) is
      // held back without an entry, so the flood does not churn the table.
      this.#suppressed++;
      return { allow: false };
    }
    const entry = this.#touch(key, nowMs);
    if (nowMs - entry.windowStartMs >= this.#windowMs) {
      entry.windowStartMs = nowMs;
      entry.count = 0;
    }
    if (entry.count >= this.#perKey || this.#totalCount >= this.#total) {
      entry.suppressed++;
      this.#suppressed++;
      return { allow: false };
    }
    entry.count++;
    this.#totalCount++;
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    return { allow: true, suppressed };
  }

  stats(): RateLimitStats {
    return { keys: this.#entries.size, suppressed: this.#suppressed, evicted: this.#evicted };
  }

  #touch(key: string, nowMs: number): Entry {
    const found = this.#entries.get(key); // marks it most recently used
    if (found !== undefined) return found;
    const entry: Entry = { windowStartMs: nowMs, count: 0, suppressed: 0 };
    this.#entries.set(key, entry);
    return entry;
  }
}
