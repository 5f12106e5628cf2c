/**
 * The listener gate ("Smart-Verify", "inverse binding", spec §3): a probe candidate that this
 * host did not answer with RST or ICMP port unreachable is a hit only if a listener snapshot
 * *begun after the candidate reached us* says its port is unused, so an FTP data port or
 * `nc -l` opened a moment before its first packet is never a trap.
 *
 * Batches wait here in arrival order. Snapshots are taken on demand, batch by batch, but never
 * more often than the listener table's rate bound (listening.ts), so a flood costs at most ~100
 * /proc reads a second and ~5 % of a core, never one read per packet; a batch past the bound on
 * waiting records is dropped and counted.
 */

import type { ListenerTable } from "./listening.js";
import { RECORD_BYTES, recordAnswered, recordProtocol } from "./probe-record.js";

/** Records waiting for a snapshot; `tag` is the caller's (its capture generation). */
export interface WaitingBatch<T> {
  readonly tag: T;
  /** The batch's own copy of its records. */
  readonly b: Buffer;
  readonly n: number;
  /** Monotonic ms at arrival: a snapshot begun at or after it is fresh enough. */
  readonly receivedMs: number;
  /** The protocols with a record the kernel did not answer: those need a snapshot. */
  readonly hasTcp: boolean;
  readonly hasUdp: boolean;
}

export class ListenerGate<T> {
  readonly #listeners: ListenerTable;
  readonly #monoMs: () => number;
  readonly #maxWaitingRecords: number;
  readonly #release: (batch: WaitingBatch<T>) => void;
  readonly #queue: WaitingBatch<T>[] = [];
  #waitingRecords = 0;
  #timer: NodeJS.Timeout | undefined;
  #waiting = false;
  #closed = false;
  /** Records dropped because too many were waiting. */
  backlogDropped = 0;

  constructor(
    listeners: ListenerTable,
    monoMs: () => number,
    maxWaitingRecords: number,
    release: (batch: WaitingBatch<T>) => void,
  ) {
    this.#listeners = listeners;
    this.#monoMs = monoMs;
    this.#maxWaitingRecords = maxWaitingRecords;
    this.#release = release;
  }

  /**
   * Copies out the `count` records of `view` (`n` in all) that `waits(at)` selects, as one
   * batch that counts against the bound until it is released; undefined (and counted) when the
   * bound is reached.
   */
  copy(
    tag: T,
    view: Buffer,
    n: number,
    count: number,
    receivedMs: number,
    waits: (at: number) => boolean,
  ): WaitingBatch<T> | undefined {
    if (this.#waitingRecords + count > this.#maxWaitingRecords) {
      this.backlogDropped += count;
      return undefined;
    }
    const b = Buffer.allocUnsafe(count * RECORD_BYTES);
    let k = 0;
    let hasTcp = false;
    let hasUdp = false;
    for (let i = 0; i < n && k < count; i++) {
      const at = i * RECORD_BYTES;
      if (!waits(at)) continue;
      view.copy(b, k * RECORD_BYTES, at, at + RECORD_BYTES);
      k++;
      const answered = recordAnswered(view, at);
      if (recordProtocol(view, at) === 6) hasTcp ||= !answered;
      else hasUdp ||= !answered;
    }
    this.#waitingRecords += k;
    return { tag, b, n: k, receivedMs, hasTcp, hasUdp };
  }

  /** Queues a batch made by `copy`; batches are released in the order they were pushed. */
  push(batch: WaitingBatch<T>): void {
    if (this.#closed) return;
    this.#queue.push(batch);
    this.#pump();
  }

  /** Drops what waits; nothing is released after this. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#waitingRecords = 0;
  }

  /**
   * Releases queued batches in order, each once a snapshot begun after it arrived is in (for
   * the protocols it holds). Otherwise waits: for the read in flight, or for the rate bound.
   */
  #pump(): void {
    if (this.#waiting) return;
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue[0]!;
      for (const proto of ["tcp", "udp"] as const) {
        if (!(proto === "tcp" ? batch.hasTcp : batch.hasUdp)) continue;
        if (this.#listeners.snapshotMs(proto) >= batch.receivedMs) continue;
        const running = this.#listeners.inFlight(proto);
        const now = this.#monoMs();
        const allowed = this.#listeners.nextReadAllowedMs(proto);
        this.#waiting = true;
        if (running === undefined && now < allowed) {
          this.#timer = setTimeout(() => this.#resume(), Math.ceil(allowed - now));
          return;
        }
        // A read begun before this batch arrived is not enough: wait for it, then read again.
        const read = running ?? { done: this.#listeners.refresh(proto) };
        void read.done.then(() => this.#resume());
        return;
      }
      this.#queue.shift();
      this.#waitingRecords -= batch.n;
      this.#release(batch);
    }
  }

  #resume(): void {
    this.#waiting = false;
    this.#pump();
  }
}
