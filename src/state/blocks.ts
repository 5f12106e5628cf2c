/**
 * The hosts we have blocked, with the per-mode blocked files (spec §7). Bounded: at most
 * `maxBlocks` records (the block-rate limit keeps real use far below it).
 */

import type { IpFamily } from "../decode/address.js";
import type { Mode } from "../detect/events.js";
import { BlockedFile } from "./blocked-file.js";

export interface BlockRecord {
  readonly address: string;
  readonly family: IpFamily;
  readonly mode: Mode;
  readonly port: number;
  /** Wall-clock milliseconds. */
  readonly sinceMs: number;
  /** Wall-clock milliseconds; 0 = never. */
  readonly expiresAtMs: number;
}

export class BlockRegistry {
  readonly #records = new Map<string, BlockRecord>();
  readonly #files = new Map<Mode, BlockedFile>();
  readonly #blockedFilePrefix: string;
  readonly #maxBlocks: number;

  constructor(blockedFilePrefix: string, maxBlocks: number) {
    this.#blockedFilePrefix = blockedFilePrefix;
    this.#maxBlocks = maxBlocks;
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

  /** Claims the address synchronously, so a second hit while the reaction runs is "already blocked". */
  claim(record: BlockRecord): boolean {
    if (this.#records.has(record.address) || this.full) return false;
    this.#records.set(record.address, record);
    return true;
  }

  /** Writes the host's line into `<BLOCKED_FILE>.<mode>` once the reaction has run. */
  recordInFile(record: BlockRecord, line: string): Promise<void> {
    return this.#file(record.mode).add(record.address, line);
  }

  async release(address: string): Promise<BlockRecord | undefined> {
    const record = this.#records.get(address);
    if (record === undefined) return undefined;
    this.#records.delete(address);
    await this.#file(record.mode).remove(address);
    return record;
  }

  /** Rewrites the blocked file of each mode from the records (1.2 started each session empty). */
  async writeFiles(modes: readonly Mode[]): Promise<void> {
    await Promise.all(modes.map((m) => this.#file(m).flush()));
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
