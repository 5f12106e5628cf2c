/**
 * Per-source hit counting for SCAN_TRIGGER (spec §4). Pure: time is an argument.
 *
 * The table is keyed by an attacker-chosen value (the source address), so it has a hard cap;
 * when full, the least recently hit source is evicted and counted. Counts are forgotten after
 * `windowMs` without a hit from that source.
 *
 * Under a flood of forged sources every hit is a new key and evicts one: a `Map`-based LRU
 * (lru-cache, used before) then allocates an entry object per hit and rehashes its `Map` every
 * few thousand deletions, which kept ~20 MiB of garbage in the daemon's heap. This table is
 * allocated once: open addressing with linear probing and backward-shift deletion (no
 * tombstones, never rehashed) over typed arrays, and a doubly linked recency list by index.
 * Only the key strings live on the heap.
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

const NONE = -1;

export class TriggerTable {
  readonly #threshold: number;
  readonly #windowMs: number;
  /** Per entry (index 0..capacity-1). */
  readonly #keys: (string | undefined)[];
  readonly #hashes: Int32Array;
  readonly #counts: Float64Array;
  readonly #lastMs: Float64Array;
  /** Recency list: #newer[e] is hit more recently than e; #head newest, #tail oldest. */
  readonly #newer: Int32Array;
  readonly #older: Int32Array;
  #head = NONE;
  #tail = NONE;
  /** Hash slots: entry index + 1, 0 when empty; at most half full. */
  readonly #slots: Int32Array;
  readonly #mask: number;
  /** Entries not in use, as a stack. */
  readonly #free: Int32Array;
  #freeCount: number;
  #evictions = 0;

  constructor(options: TriggerOptions) {
    this.#threshold = Math.max(1, options.scanTrigger);
    this.#windowMs = options.windowMs;
    // SCAN_TRIGGER 0 or 1 counts nothing (see record): no table at all.
    const capacity = this.#threshold === 1 ? 1 : Math.max(1, Math.floor(options.maxSources));
    this.#keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#hashes = new Int32Array(capacity);
    this.#counts = new Float64Array(capacity);
    this.#lastMs = new Float64Array(capacity);
    this.#newer = new Int32Array(capacity).fill(NONE);
    this.#older = new Int32Array(capacity).fill(NONE);
    let slots = 2;
    while (slots < 2 * capacity) slots *= 2;
    this.#slots = new Int32Array(slots);
    this.#mask = slots - 1;
    this.#free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.#free[i] = capacity - 1 - i;
    this.#freeCount = capacity;
  }

  /**
   * Records one hit; returns the source's count including this hit. With SCAN_TRIGGER 0 or 1
   * every hit reaches the trigger: nothing is stored (and returned as 1), so a spoofed flood
   * costs no table churn.
   */
  record(source: string, nowMs: number): number {
    if (this.#threshold === 1) return 1;
    const hash = hashOf(source);
    const slot = this.#find(source, hash);
    if (slot !== NONE) {
      const e = this.#slots[slot]! - 1;
      if (nowMs - this.#lastMs[e]! > this.#windowMs) this.#counts[e] = 0;
      this.#counts[e]!++;
      this.#lastMs[e] = nowMs;
      this.#unlink(e);
      this.#pushNewest(e);
      return this.#counts[e]!;
    }
    if (this.#freeCount === 0) {
      this.#remove(this.#tail);
      this.#evictions++;
    }
    const e = this.#free[--this.#freeCount]!;
    this.#keys[e] = source;
    this.#hashes[e] = hash;
    this.#counts[e] = 1;
    this.#lastMs[e] = nowMs;
    this.#pushNewest(e);
    let s = hash & this.#mask;
    while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
    this.#slots[s] = e + 1;
    return 1;
  }

  /** True when a source with this count has reached the trigger. */
  reached(count: number): boolean {
    return count >= this.#threshold;
  }

  forget(source: string): void {
    const slot = this.#find(source, hashOf(source));
    if (slot !== NONE) this.#remove(this.#slots[slot]! - 1);
  }

  /** Drops entries idle for longer than the window (call now and then, not per hit). */
  sweep(nowMs: number): void {
    while (this.#tail !== NONE && nowMs - this.#lastMs[this.#tail]! > this.#windowMs)
      this.#remove(this.#tail);
  }

  stats(): TriggerStats {
    return { tracked: this.#free.length - this.#freeCount, evictions: this.#evictions };
  }

  /** The slot holding `source`, or NONE. */
  #find(source: string, hash: number): number {
    for (let s = hash & this.#mask; this.#slots[s] !== 0; s = (s + 1) & this.#mask) {
      if (this.#keys[this.#slots[s]! - 1] === source) return s;
    }
    return NONE;
  }

  /** Takes entry `e` out of the slots and the recency list, and frees it. */
  #remove(e: number): void {
    const slot = this.#find(this.#keys[e]!, this.#hashes[e]!);
    this.#deleteSlot(slot);
    this.#unlink(e);
    this.#keys[e] = undefined;
    this.#free[this.#freeCount++] = e;
  }

  /** Backward-shift deletion: later entries of the probe run move up, so no tombstone is left. */
  #deleteSlot(slot: number): void {
    const mask = this.#mask;
    let hole = slot;
    this.#slots[hole] = 0;
    for (let s = (hole + 1) & mask; this.#slots[s] !== 0; s = (s + 1) & mask) {
      const home = this.#hashes[this.#slots[s]! - 1]! & mask;
      // The entry at s may fill the hole unless its home lies cyclically in (hole, s].
      const homeAfterHole = (home - hole - 1 + mask + 1) & mask;
      const sAfterHole = (s - hole - 1 + mask + 1) & mask;
      if (homeAfterHole <= sAfterHole) continue;
      this.#slots[hole] = this.#slots[s]!;
      this.#slots[s] = 0;
      hole = s;
    }
  }

  #pushNewest(e: number): void {
    this.#older[e] = this.#head;
    this.#newer[e] = NONE;
    if (this.#head !== NONE) this.#newer[this.#head] = e;
    this.#head = e;
    if (this.#tail === NONE) this.#tail = e;
  }

  #unlink(e: number): void {
    const newer = this.#newer[e]!;
    const older = this.#older[e]!;
    if (newer !== NONE) this.#older[newer] = older;
    else this.#head = older;
    if (older !== NONE) this.#newer[older] = newer;
    else this.#tail = newer;
    this.#newer[e] = NONE;
    this.#older[e] = NONE;
  }
}

/** FNV-1a over the UTF-16 code units: addresses are short ASCII strings. */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}
