/**
 * Lifts blocks when their time comes (BLOCK_TIMEOUT). One timer, set for the earliest expiry
 * in the store; it never sleeps longer than a minute, so a wall-clock jump is caught up with.
 */

import type { StoredBlock } from "./block-store.js";
import type { StateStore } from "./store.js";

const MAX_SLEEP_MS = 60_000;
const BATCH = 256;

export class ExpiryTimer {
  readonly #store: StateStore;
  readonly #lift: (block: StoredBlock) => Promise<void>;
  readonly #wallClockMs: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(store: StateStore, lift: (block: StoredBlock) => Promise<void>, wallClockMs: () => number) {
    this.#store = store;
    this.#lift = lift;
    this.#wallClockMs = wallClockMs;
  }

  /** (Re)arms the timer for the earliest expiry; call after adding a block. */
  schedule(): void {
    if (this.#stopped || this.#running) return;
    clearTimeout(this.#timer);
    const next = this.#store.nextExpiryMs();
    const delayMs =
      next === undefined ? MAX_SLEEP_MS : Math.max(0, Math.min(MAX_SLEEP_MS, next - this.#wallClockMs()));
    this.#timer = setTimeout(() => void this.#run(), delayMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (;;) {
        const due = this.#store.expired(this.#wallClockMs(), BATCH);
        if (due.length === 0 || this.#stopped) break;
        for (const block of due) await this.#lift(block);
      }
    } finally {
      this.#running = false;
      this.schedule();
    }
  }
}
