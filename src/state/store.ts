/**
 * The daemon's persistent state (spec §7): active blocks and repeat offenders, in SQLite under
 * STATE_DIR (better-sqlite3: synchronous, transactional, crash-safe).
 *
 * Why SQLite: a block must survive `kill -9` at any instant, and a restart must neither lose
 * nor duplicate one. SQLite's WAL journal gives atomic commits; with `synchronous=NORMAL` a
 * commit is in the OS page cache before the call returns, which a killed process cannot lose
 * (only a power cut can lose the last commits; FULL would fsync each one and cost ~1 ms).
 * The record of a block is written *before* any responder is asked to apply it, so after any
 * crash the state holds at least every block the kernel holds, and reconciliation re-applies
 * the idempotent steps.
 */

import { closeSync, constants, fchmodSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import type { Mode } from "../vocabulary.js";
import type { BlockStore, StoredBlock } from "./block-store.js";
import { isDiskFull } from "./safe-files.js";

/** Pages between WAL checkpoints (SQLite's default is 1000, 4 MB): ~50 blocks' commits. */
const WAL_PAGES = 200;
/** The WAL is cut back to this after a checkpoint. */
const WAL_LIMIT_BYTES = 1 << 20;

/**
 * Makes the database file (created if missing) and any -wal/-shm left over 0600, without
 * following a link. SQLite gives the -wal and -shm files it creates the database file's mode,
 * so all three stay 0600; chmod rather than umask, which is process-wide.
 */
function ownerOnly(path: string): void {
  const { O_RDONLY, O_CREAT, O_NOFOLLOW } = constants;
  for (const [file, create] of [
    [path, true],
    [`${path}-wal`, false],
    [`${path}-shm`, false],
  ] as const) {
    let fd: number;
    try {
      fd = openSync(file, O_RDONLY | O_NOFOLLOW | (create ? O_CREAT : 0), 0o600);
    } catch (err) {
      if (!create && (err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    try {
      fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
  }
}

interface BlockRow {
  address: string;
  family: number;
  mode: string;
  port: number;
  since_ms: number;
  expires_at_ms: number;
  level: number;
  recorded: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blocks (
  address TEXT PRIMARY KEY,
  family INTEGER NOT NULL,
  mode TEXT NOT NULL,
  port INTEGER NOT NULL,
  since_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  level INTEGER NOT NULL,
  recorded INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_expiry ON blocks (expires_at_ms) WHERE expires_at_ms > 0;
CREATE TABLE IF NOT EXISTS offenders (
  address TEXT PRIMARY KEY,
  blocks INTEGER NOT NULL,
  last_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS offenders_last ON offenders (last_ms);
`;

const MODES: ReadonlySet<string> = new Set(["tcp", "udp", "stcp", "sudp", "atcp", "audp"]);

function toBlock(r: BlockRow): StoredBlock | undefined {
  if (!MODES.has(r.mode) || (r.family !== 4 && r.family !== 6) || (r.level !== 1 && r.level !== 2))
    return undefined;
  return {
    address: r.address,
    family: r.family,
    mode: r.mode as Mode,
    port: r.port,
    sinceMs: r.since_ms,
    expiresAtMs: r.expires_at_ms,
    level: r.level,
    recorded: r.recorded === 1,
  };
}

export class StateStore implements BlockStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #markRecorded: Database.Statement;
  readonly #all: Database.Statement;
  readonly #expired: Database.Statement;
  readonly #nextExpiry: Database.Statement;
  readonly #offence: Database.Statement;
  readonly #offences: Database.Statement;
  readonly #pruneOffenders: Database.Statement;

  constructor(path: string) {
    ownerOnly(path);
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    // A bounded WAL: checkpoint every WAL_PAGES pages and cut the file back after a checkpoint,
    // so a storm of blocks cannot grow it to the default 1000 pages (4 MB) on a small disk.
    this.#db.pragma(`wal_autocheckpoint = ${WAL_PAGES}`);
    this.#db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
    this.#db.pragma("synchronous = NORMAL");
    this.#db.pragma("busy_timeout = 2000");
    this.#db.exec(SCHEMA);
    this.#insert = this.#db.prepare(
      `INSERT OR REPLACE INTO blocks (address, family, mode, port, since_ms, expires_at_ms, level, recorded)
       VALUES (@address, @family, @mode, @port, @sinceMs, @expiresAtMs, @level, @recorded)`,
    );
    this.#delete = this.#db.prepare("DELETE FROM blocks WHERE address = ?");
    this.#markRecorded = this.#db.prepare("UPDATE blocks SET recorded = 1 WHERE address = ?");
    this.#all = this.#db.prepare("SELECT * FROM blocks ORDER BY since_ms");
    this.#expired = this.#db.prepare(
      "SELECT * FROM blocks WHERE expires_at_ms > 0 AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?",
    );
    this.#nextExpiry = this.#db.prepare("SELECT MIN(expires_at_ms) AS t FROM blocks WHERE expires_at_ms > 0");
    this.#offence = this.#db.prepare(
      `INSERT INTO offenders (address, blocks, last_ms) VALUES (?, 1, ?)
       ON CONFLICT (address) DO UPDATE SET blocks = blocks + 1, last_ms = excluded.last_ms
       RETURNING blocks`,
    );
    this.#offences = this.#db.prepare("SELECT blocks, last_ms FROM offenders WHERE address = ?");
    this.#pruneOffenders = this.#db.prepare("DELETE FROM offenders WHERE last_ms < ?");
  }

  /** Records a block (replacing an older record of the same address). */
  putBlock(b: StoredBlock): void {
    this.#insert.run({ ...b, recorded: b.recorded ? 1 : 0 });
  }

  markRecorded(address: string): void {
    this.#markRecorded.run(address);
  }

  deleteBlock(address: string): boolean {
    return this.#delete.run(address).changes > 0;
  }

  blocks(): StoredBlock[] {
    return (this.#all.all() as BlockRow[]).map(toBlock).filter((b): b is StoredBlock => b !== undefined);
  }

  /** Blocks whose time has come, oldest first, at most `limit`. */
  expired(nowMs: number, limit: number): StoredBlock[] {
    return (this.#expired.all(nowMs, limit) as BlockRow[])
      .map(toBlock)
      .filter((b): b is StoredBlock => b !== undefined);
  }

  /** The earliest expiry time, or undefined when nothing expires. */
  nextExpiryMs(): number | undefined {
    const row = this.#nextExpiry.get() as { t: number | null };
    return row.t ?? undefined;
  }

  /**
   * Counts one more block of `address`; returns how many blocks it has had (this one included).
   * On a full disk the count is not kept (a ban a step shorter next time), never an error.
   */
  recordOffence(address: string, nowMs: number): number {
    try {
      return (this.#offence.get(address, nowMs) as { blocks: number }).blocks;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      return this.offences(address) + 1;
    }
  }

  /** Forgets offenders whose last block is older than `beforeMs` (not on a full disk: later). */
  pruneOffenders(beforeMs: number): number {
    try {
      return this.#pruneOffenders.run(beforeMs).changes;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      return 0;
    }
  }

  offences(address: string): number {
    return (this.#offences.get(address) as { blocks: number } | undefined)?.blocks ?? 0;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
