/**
 * Where the table of blocks keeps its records: the daemon's SQLite state (store.ts, crash-safe)
 * or replay's memory (memory-store.ts, expiry by capture time). BlockRegistry works over either.
 */

import type { BlockRecord } from "../vocabulary.js";

/** A block as stored: the record, and whether its history line was written. */
export type StoredBlock = BlockRecord & {
  /** The history line was written. */
  readonly recorded: boolean;
};

export interface BlockStore {
  /** Records a block (replacing an older record of the same address). */
  putBlock(b: StoredBlock): void;
  markRecorded(address: string): void;
  deleteBlock(address: string): boolean;
  blocks(): StoredBlock[];
  /** Blocks whose time has come, oldest first, at most `limit`. */
  expired(nowMs: number, limit: number): StoredBlock[];
  /** Blocks this host had before (BLOCK_TIMEOUT_GROWTH). */
  offences(address: string): number;
}
