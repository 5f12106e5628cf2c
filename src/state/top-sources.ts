/**
 * The sources (and ports) with the most probes since start, for /metrics' top panels: the
 * space-saving algorithm (Metwally et al.) over a fixed number of slots. A source not in the
 * table takes the slot of the least-counted one and inherits its count, so a heavy hitter is
 * never lost and a spoofed flood costs one scan of `capacity` slots per new source, no memory.
 * Counts are upper bounds; `error` says by how much at most. Pure.
 */

/** Slots kept: the dashboard shows 10; 32 keeps the 10th place honest at a 32-compare scan. */
export const TOP_CAPACITY = 32;

export interface TopEntry<K> {
  readonly key: K;
  /** Probes counted for the key; at most `error` of them belonged to evicted keys. */
  readonly probes: number;
  readonly error: number;
}

/** Keys are source addresses (strings) or ports (`protocol << 16 | port`). */
export class TopCounts<K extends string | number> {
  readonly #capacity: number;
  readonly #slots = new Map<K, { probes: number; error: number }>();
  #evictions = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  add(key: K): void {
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      slot.probes++;
      return;
    }
    if (this.#slots.size < this.#capacity) {
      this.#slots.set(key, { probes: 1, error: 0 });
      return;
    }
    let minKey: K | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, s] of this.#slots) {
      if (s.probes < min) {
        min = s.probes;
        minKey = k;
      }
    }
    if (minKey !== undefined) this.#slots.delete(minKey);
    this.#evictions++;
    this.#slots.set(key, { probes: min + 1, error: min });
  }

  /** The `n` most counted keys, most first. */
  top(n: number): TopEntry<K>[] {
    return [...this.#slots]
      .map(([key, s]) => ({ key, probes: s.probes, error: s.error }))
      .sort((a, b) => b.probes - a.probes || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }

  get evictions(): number {
    return this.#evictions;
  }
}
