/**
 * The table of blocks' store in memory, for `portsentry replay`: the same records as the
 * daemon's SQLite state, expiry by the caller's clock (capture time), and the repeat-offender
 * counts bounded like every table keyed by an attacker's address (least recent forgotten first,
 * counted). Nothing touches the disk.
 */

import { LRUCache } from "lru-cache";
import type { BlockStore, StoredBlock } from "./block-store.js";

export class MemoryStore implements BlockStore {
  readonly #blocks = new Map<string, StoredBlock>();
  /** Min-heap of [expiresAtMs, address]; stale entries are skipped when popped. */
  readonly #heap: [number, string][] = [];
  readonly #offences: LRUCache<string, number>;
  /** Hosts whose block count was forgotten to keep the table bounded. */
  offencesForgotten = 0;

  constructor(maxOffenders: number) {
    this.#offences = new LRUCache({
      max: Math.max(1, maxOffenders),
      dispose: (_n, _address, reason) => {
        if (reason === "evict") this.offencesForgotten++;
      },
    });
  }

  putBlock(b: StoredBlock): void {
    this.#blocks.set(b.address, b);
    if (b.expiresAtMs !== 0) heapPush(this.#heap, [b.expiresAtMs, b.address]);
  }

  markRecorded(address: string): void {
    const b = this.#blocks.get(address);
    if (b !== undefined) this.#blocks.set(address, { ...b, recorded: true });
  }

  deleteBlock(address: string): boolean {
    return this.#blocks.delete(address);
  }

  blocks(): StoredBlock[] {
    return [...this.#blocks.values()];
  }

  /** Blocks expired at `nowMs`, oldest first; they stay until deleted (as in SQLite). */
  expired(nowMs: number, limit: number): StoredBlock[] {
    const out: StoredBlock[] = [];
    const heap = this.#heap;
    while (out.length < limit && heap.length > 0 && heap[0]![0] <= nowMs) {
      const [at, address] = heapPop(heap)!;
      const b = this.#blocks.get(address);
      if (b !== undefined && b.expiresAtMs === at) out.push(b);
    }
    return out;
  }

  offences(address: string): number {
    return this.#offences.get(address) ?? 0;
  }

  /** Counts one more block of `address`. */
  recordOffence(address: string): void {
    this.#offences.set(address, (this.#offences.get(address) ?? 0) + 1);
  }
}

function heapPush(heap: [number, string][], item: [number, string]): void {
  heap.push(item);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (heap[parent]![0] <= heap[i]![0]) break;
    [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
    i = parent;
  }
}

function heapPop(heap: [number, string][]): [number, string] | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
    if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
    if (m === i) break;
    [heap[m], heap[i]] = [heap[i]!, heap[m]!];
    i = m;
  }
  return top;
}
