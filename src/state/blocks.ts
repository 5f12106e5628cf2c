/**
 * The hosts we have blocked: an in-memory index (asked on every hit) over the persistent store,
 * with the per-mode blocked files (spec §7). Bounded: at most `maxBlocks` records (the
 * block-rate limit keeps real use far below it).
 */

import type { BlockRecord, Mode } from "../vocabulary.js";
import type { BlockStore, StoredBlock } from "./block-store.js";
import { BlockedFile } from "./blocked-file.js";
import type { CatchUp } from "./catch-up.js";

export class BlockRegistry {
  readonly #records = new Map<string, BlockRecord>();
  readonly #files = new Map<Mode, BlockedFile>();
  readonly #blockedFilePrefix: string;
  readonly #maxBlocks: number;
  readonly #store: BlockStore | undefined;
  readonly #catchUp: CatchUp | undefined;
  /** Addresses whose history line is written: a state row retried later keeps the mark. */
  readonly #recorded = new Set<string>();
  /** Told of every new block once claimed (FLEET_URL: the fleet publishes the local ones). */
  onClaim: ((record: BlockRecord) => void) | undefined;

  /**
   * With `catchUp`, a write that fails (state row, blocked file) is retried there and the block
   * stays in force; without it, the failure is thrown.
   */
  constructor(blockedFilePrefix: string, maxBlocks: number, store?: BlockStore, catchUp?: CatchUp) {
    this.#blockedFilePrefix = blockedFilePrefix;
    this.#maxBlocks = maxBlocks;
    this.#store = store;
    this.#catchUp = catchUp;
  }

  has(address: string): boolean {
    return this.#records.has(address);
  }

  get(address: string): BlockRecord | undefined {
    return this.#records.get(address);
  }

  get size(): number {
    return this.#records.size;
  }

  get full(): boolean {
    return this.#records.size >= this.#maxBlocks;
  }

  list(): readonly BlockRecord[] {
    return [...this.#records.values()];
  }

  /**
   * Claims the address synchronously and persists the record before any responder runs, so a
   * second hit while the reaction runs is "already blocked" and a crash loses nothing.
   */
  claim(record: BlockRecord): boolean {
    if (this.#records.has(record.address) || this.full) return false;
    this.#records.set(record.address, record);
    const { address } = record;
    this.#persist(`the state of ${address}`, () => {
      if (this.#records.get(address) === record) {
        this.#store?.putBlock({ ...record, recorded: this.#recorded.has(address) });
      }
    });
    this.onClaim?.(record);
    return true;
  }

  /** Loads the persisted blocks (at start); returns them with their `recorded` flag. */
  load(): readonly StoredBlock[] {
    const stored = this.#store?.blocks() ?? [];
    for (const b of stored) {
      const { recorded, ...record } = b;
      this.#records.set(b.address, record);
      if (recorded) this.#recorded.add(b.address);
    }
    return stored;
  }

  /** Writes the host's line into `<BLOCKED_FILE>.<mode>` once the reaction has run. */
  async recordInFile(record: BlockRecord, line: string): Promise<void> {
    const file = this.#file(record.mode);
    file.set(record.address, line);
    await this.#flush(file);
  }

  /** Notes that the block's history line is on disk, so a restart does not write it again. */
  markRecorded(address: string): void {
    if (this.#records.has(address)) this.#recorded.add(address);
    this.#persist(`the state of ${address} (recorded)`, () => this.#store?.markRecorded(address));
  }

  /** Forgets a block: state, index and blocked file. */
  async release(address: string): Promise<BlockRecord | undefined> {
    const record = this.#records.get(address);
    if (record === undefined) return undefined;
    this.#records.delete(address);
    this.#recorded.delete(address);
    this.#persist(`the state of ${address}`, () => {
      if (!this.#records.has(address)) this.#store?.deleteBlock(address);
    });
    const file = this.#file(record.mode);
    if (file.has(address)) {
      file.set(address, undefined);
      await this.#flush(file);
    }
    return record;
  }

  /** Puts a line for each loaded record into its blocked file and writes every mode's file. */
  async writeFiles(modes: readonly Mode[], lineOf: (r: BlockRecord) => string): Promise<void> {
    for (const r of this.#records.values()) this.#file(r.mode).set(r.address, lineOf(r));
    const all = new Set<Mode>([...modes, ...[...this.#records.values()].map((r) => r.mode)]);
    await Promise.all([...all].map((m) => this.#flush(this.#file(m))));
  }

  /** Runs a state write now; if it fails, hands it to the catch-up (same key: the last wins). */
  #persist(key: string, write: () => void): void {
    try {
      write();
      this.#catchUp?.wrote();
    } catch (err) {
      if (this.#catchUp === undefined) throw err;
      this.#catchUp.failed(key, write, err);
    }
  }

  /** Writes a blocked file; a failure is retried by the catch-up (logged there). */
  async #flush(file: BlockedFile): Promise<void> {
    try {
      await file.flush();
      this.#catchUp?.wrote();
    } catch (err) {
      if (this.#catchUp === undefined) throw err;
      this.#catchUp.failed(file.path, () => file.flush(), err);
    }
  }

  #file(mode: Mode): BlockedFile {
    let file = this.#files.get(mode);
    if (file === undefined) {
      file = new BlockedFile(`${this.#blockedFilePrefix}.${mode}`);
      this.#files.set(mode, file);
    }
    return file;
  }
}
