/** How long a block lasts (BLOCK_TIMEOUT, BLOCK_TIMEOUT_GROWTH, BLOCK_TIMEOUT_MAX). Pure. */

export interface BanDurationOptions {
  /** 0 = forever. */
  readonly baseSec: number;
  /** Factor per earlier block of the same host; 1 = none. */
  readonly growth: number;
  /** Ceiling; 0 = none. */
  readonly maxSec: number;
}

/** Seconds for the `nth` block of a host (1 = first); 0 means forever. */
export function banDurationSec(o: BanDurationOptions, nth: number): number {
  if (o.baseSec <= 0) return 0;
  const grown = o.baseSec * o.growth ** Math.max(0, Math.min(nth - 1, 64));
  const capped = o.maxSec > 0 ? Math.min(grown, Math.max(o.maxSec, o.baseSec)) : grown;
  return Math.min(Math.round(capped), 3650 * 86400);
}
