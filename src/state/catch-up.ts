/**
 * Writes that failed, retried while the daemon runs. The state database is the source of truth:
 * a block stays in force whatever happens to its records (history line, blocked file,
 * hosts.deny line, the state row itself), and each record that could not be written is kept
 * here as an idempotent retry, keyed by what it writes (a later failure under the same key
 * replaces the earlier one: the last wish wins). Retries run oldest first, after 1 s doubling to
 * 30 s while they fail, and promptly after any other write succeeds (space may be back).
 *
 * A full disk (ENOSPC, EDQUOT, SQLITE_FULL) is logged once per episode, not once per record, and
 * its end once, with the number of records caught up.
 */

import { CATCH_UP_LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { isDiskFull } from "./safe-files.js";

export const CATCH_UP_DELAYS = { firstMs: CATCH_UP_LIMITS.firstMs, maxMs: CATCH_UP_LIMITS.maxMs } as const;

export interface CatchUpOptions {
  readonly firstMs: number;
  readonly maxMs: number;
  /**
   * Retries held at most; past it the oldest is dropped and counted. Keys are per blocked host
   * (a few records each), so LIMITS.maxBlocks bounds them already; this is the hard cap.
   */
  readonly maxRecords: number;
}

export const CATCH_UP_DEFAULTS: CatchUpOptions = {
  ...CATCH_UP_DELAYS,
  maxRecords: CATCH_UP_LIMITS.maxRecords,
};

export interface CatchUpStats {
  /** Episodes of a full disk (or quota) so far. */
  readonly diskFull: number;
  /** Writes that failed because the disk was full. */
  readonly diskFullWrites: number;
  /** Records not yet written (retries pending). */
  readonly recordsBehind: number;
  /** Records written by a retry. */
  readonly recordsCaughtUp: number;
  /** Retries dropped, oldest first, past the cap (a restart still writes what the state holds). */
  readonly recordsDropped: number;
}

interface Retry {
  readonly run: () => Promise<void> | void;
}

export class CatchUp {
  readonly #log: Log;
  readonly #delays: CatchUpOptions;
  readonly #retries = new Map<string, Retry>();
  #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** In a disk-full episode: the records caught up since it began. */
  #episode: { caughtUp: number } | undefined;
  #diskFull = 0;
  #diskFullWrites = 0;
  #caughtUp = 0;
  #dropped = 0;

  constructor(log: Log, delays: CatchUpOptions = CATCH_UP_DEFAULTS) {
    this.#log = log;
    this.#delays = delays;
    this.#delayMs = delays.firstMs;
  }

  /**
   * Writing `key` failed: `retry` (idempotent; it throws while it still fails) is run later.
   * Logged here: a full disk once per episode, anything else each time unless `logged` (the
   * caller has said it in its own words).
   */
  failed(key: string, retry: () => Promise<void> | void, err: unknown, logged = false): void {
    // Re-inserted last: retries run in the order they last failed.
    if (!this.#retries.delete(key) && this.#retries.size >= this.#delays.maxRecords) {
      const oldest = this.#retries.keys().next();
      if (oldest.done !== true) this.#retries.delete(oldest.value);
      this.#dropped++;
    }
    this.#retries.set(key, { run: retry });
    if (!this.#noteFailure(key, err) && !logged)
      this.#log.error(msg.writeFailed(key, (err as Error).message));
    this.#schedule(this.#delayMs);
  }

  /** A write succeeded: if records are behind, retry them now rather than at the next tick. */
  wrote(): void {
    if (this.#retries.size > 0 && this.#running === undefined) {
      this.#delayMs = this.#delays.firstMs;
      this.#schedule(0);
    }
  }

  /** Runs every pending retry now (tests, and shut-down's last chance); resolves when done. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await (this.#running ?? this.#pass());
  }

  stats(): CatchUpStats {
    return {
      diskFull: this.#diskFull,
      diskFullWrites: this.#diskFullWrites,
      recordsBehind: this.#retries.size,
      recordsCaughtUp: this.#caughtUp,
      recordsDropped: this.#dropped,
    };
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #noteFailure(key: string, err: unknown): boolean {
    if (!isDiskFull(err)) return false;
    this.#diskFullWrites++;
    if (this.#episode === undefined) {
      this.#episode = { caughtUp: 0 };
      this.#diskFull++;
      this.#log.error(msg.diskFull(key, (err as Error).message));
    }
    return true;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#running !== undefined) return;
    if (this.#timer !== undefined) {
      if (delayMs > 0) return; // already due no later than a back-off step
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#pass();
    }, delayMs);
    this.#timer.unref();
  }

  #pass(): Promise<void> {
    const pass = (async () => {
      let failed = false;
      let full = false;
      for (const [key, retry] of [...this.#retries]) {
        try {
          await retry.run();
        } catch (err) {
          failed = true;
          // A full disk fails every write alike: stop here. Anything else is this record's own.
          full = this.#noteFailure(key, err);
          if (full) break;
          continue;
        }
        // Only this retry is done: the key may have failed again meanwhile with a newer one.
        if (this.#retries.get(key) === retry) this.#retries.delete(key);
        this.#caughtUp++;
        if (this.#episode !== undefined) this.#episode.caughtUp++;
      }
      this.#delayMs = failed ? Math.min(this.#delayMs * 2, this.#delays.maxMs) : this.#delays.firstMs;
      if (!full && this.#episode !== undefined) {
        this.#log.notice(msg.spaceBack(this.#episode.caughtUp));
        this.#episode = undefined;
      }
    })().finally(() => {
      this.#running = undefined;
      if (this.#retries.size > 0) this.#schedule(this.#delayMs);
    });
    this.#running = pass;
    return pass;
  }
}
