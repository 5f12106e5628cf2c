/**
 * MAX_BLOCKS_PER_MINUTE as an exact sliding window: at most `max` new blocks in any `windowMs`
 * (a token bucket of the same size lets through up to twice as many in one minute: a full
 * bucket, then its refill). One budget serves every path that makes a block (the daemon's own
 * decisions and the kernel trap's reports). Pure; memory is at most `max` timestamps.
 */

export class BlockBudget {
  readonly #max: number;
  readonly #windowMs: number;
  /** The times of the blocks still inside the window, oldest first, from `#head`. */
  #times: number[] = [];
  #head = 0;

  /** `max` 0: no limit. */
  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Takes one block at `nowMs` if the window has room; false when it is spent. */
  take(nowMs: number): boolean {
    if (this.#max <= 0) return true;
    const times = this.#times;
    while (this.#head < times.length && nowMs - (times[this.#head] as number) >= this.#windowMs) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > times.length) {
      this.#times = times.slice(this.#head);
      this.#head = 0;
    }
    if (this.#times.length - this.#head >= this.#max) return false;
    this.#times.push(nowMs);
    return true;
  }
}
