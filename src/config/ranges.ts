/**
 * Sorted, disjoint ranges of unsigned numbers `width` 32-bit words wide (1 for IPv4, 4 for
 * IPv6, most significant word first), with a binary-search membership test. Built once from
 * any ranges (overlapping allowed, merged here); a lookup is log2(ranges) steps over typed
 * arrays, no allocation. Pure.
 */

export class RangeIndex {
  readonly #width: number;
  readonly #starts: Uint32Array;
  readonly #ends: Uint32Array;
  readonly #count: number;

  /** `starts` and `ends` hold `width` words per range, in the same order; ends are inclusive. */
  constructor(width: number, starts: Uint32Array, ends: Uint32Array) {
    this.#width = width;
    const n = Math.floor(starts.length / width);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => compare(starts, a, starts, b, width));
    const s = new Uint32Array(n * width);
    const e = new Uint32Array(n * width);
    let count = 0;
    for (const i of order) {
      const from = i * width;
      if (count > 0 && compare(starts, i, e, count - 1, width) <= 0) {
        // Starts inside the last merged range: extend that range if this one ends later.
        if (compare(ends, i, e, count - 1, width) > 0)
          e.set(ends.subarray(from, from + width), (count - 1) * width);
        continue;
      }
      s.set(starts.subarray(from, from + width), count * width);
      e.set(ends.subarray(from, from + width), count * width);
      count++;
    }
    this.#starts = s;
    this.#ends = e;
    this.#count = count;
  }

  /** Number of disjoint ranges after merging. */
  get count(): number {
    return this.#count;
  }

  /** Whether the `width`-word number in `q` lies in one of the ranges. */
  contains(q: Uint32Array): boolean {
    const w = this.#width;
    let lo = 0;
    let hi = this.#count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(this.#starts, mid, q, 0, w) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && compare(this.#ends, found, q, 0, w) >= 0;
  }
}

/** Compares number `i` of `a` with number `j` of `b` (each `w` words). */
function compare(a: Uint32Array, i: number, b: Uint32Array, j: number, w: number): number {
  for (let k = 0; k < w; k++) {
    const x = a[i * w + k]!;
    const y = b[j * w + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
