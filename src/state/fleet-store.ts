/**
 * The fleet's local state (STATE_DIR/fleet.db, SQLite like state.db): the last stream id this
 * member applied (a restart resumes there), the outbox of local events not yet acknowledged by
 * Redis (published on reconnect, oldest first), and the origin member of each fleet block.
 * Bounded: the outbox keeps at most `maxOutbox` events (the oldest is dropped and counted); the
 * origins table holds one row per address the registry holds (pruned with it).
 */

import { closeSync, constants, fchmodSync, openSync } from "node:fs";
import Database from "better-sqlite3";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, fields TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS origins (address TEXT PRIMARY KEY, origin TEXT NOT NULL) WITHOUT ROWID;
`;

export interface OutboxEntry {
  readonly seq: number;
  readonly fields: readonly string[];
}

export class FleetStore {
  readonly #db: Database.Database;
  readonly #maxOutbox: number;
  readonly #get: Database.Statement;
  readonly #put: Database.Statement;
  readonly #enqueue: Database.Statement;
  readonly #oldest: Database.Statement;
  readonly #done: Database.Statement;
  readonly #count: Database.Statement;
  readonly #dropOldest: Database.Statement;
  readonly #setOrigin: Database.Statement;
  readonly #origin: Database.Statement;
  readonly #dropOrigin: Database.Statement;
  /** Outbox events dropped because it was full. */
  dropped = 0;

  constructor(path: string, maxOutbox: number) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
    this.#maxOutbox = maxOutbox;
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = NORMAL");
    this.#db.pragma("busy_timeout = 2000");
    this.#db.exec(SCHEMA);
    this.#get = this.#db.prepare("SELECT value FROM meta WHERE key = ?");
    this.#put = this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    this.#enqueue = this.#db.prepare("INSERT INTO outbox (fields) VALUES (?)");
    this.#oldest = this.#db.prepare("SELECT seq, fields FROM outbox ORDER BY seq LIMIT ?");
    this.#done = this.#db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.#count = this.#db.prepare("SELECT COUNT(*) AS n FROM outbox");
    this.#dropOldest = this.#db.prepare("DELETE FROM outbox WHERE seq = (SELECT MIN(seq) FROM outbox)");
    this.#setOrigin = this.#db.prepare("INSERT OR REPLACE INTO origins (address, origin) VALUES (?, ?)");
    this.#origin = this.#db.prepare("SELECT origin FROM origins WHERE address = ?");
    this.#dropOrigin = this.#db.prepare("DELETE FROM origins WHERE address = ?");
  }

  /** The id of the last stream entry applied; undefined before the first. */
  get lastId(): string | undefined {
    return (this.#get.get("lastId") as { value: string } | undefined)?.value;
  }

  set lastId(id: string) {
    this.#put.run("lastId", id);
  }

  /** Keeps a local event until Redis has it; the oldest is dropped when the outbox is full. */
  enqueue(fields: readonly string[]): void {
    if ((this.#count.get() as { n: number }).n >= this.#maxOutbox) {
      this.#dropOldest.run();
      this.dropped++;
    }
    this.#enqueue.run(JSON.stringify(fields));
  }

  oldest(limit: number): OutboxEntry[] {
    const rows = this.#oldest.all(limit) as { seq: number; fields: string }[];
    return rows.map((r) => ({ seq: r.seq, fields: JSON.parse(r.fields) as string[] }));
  }

  published(seq: number): void {
    this.#done.run(seq);
  }

  get outboxSize(): number {
    return (this.#count.get() as { n: number }).n;
  }

  setOrigin(address: string, origin: string): void {
    this.#setOrigin.run(address, origin);
  }

  originOf(address: string): string | undefined {
    return (this.#origin.get(address) as { origin: string } | undefined)?.origin;
  }

  forgetOrigin(address: string): void {
    this.#dropOrigin.run(address);
  }

  close(): void {
    this.#db.close();
  }
}
