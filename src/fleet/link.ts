/**
 * The member's two connections to the fleet's Redis (ioredis): one for commands (publish,
 * report, snapshot), one blocked in XREAD on the event stream. Nothing here decides: an event
 * read is handed to `apply` (the daemon runs it through this host's own policy).
 *
 * Never on the hit path: `publish` and `report` only queue (the outbox is the local state);
 * a flush runs on its own and on every reconnect. While Redis is slow or down, commands fail
 * at once (no offline queue) and the outbox waits.
 */

import { createHash } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import type { FleetUrl } from "../config/types.js";
import { FLEET_LIMITS } from "../limits.js";
import type { FleetStore } from "../state/fleet-store.js";
import type { Mode } from "../vocabulary.js";
import { decodeEvent, encodeEvent, type FleetEvent } from "./event.js";
import { fleetKeys, PUBLISH_LUA, REPORT_LUA } from "./scripts.js";

export interface FleetLinkOptions {
  readonly url: FleetUrl;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | undefined;
  readonly name: string;
  readonly member: string;
  readonly share: boolean;
  /** FLEET_SCAN_TRIGGER; 0 = no reports. */
  readonly trigger: number;
  readonly windowMs: number;
  /** How long a fleet-trigger block lasts (this member's BLOCK_TIMEOUT); 0 = forever. */
  readonly banMs: number;
  readonly store: FleetStore;
  readonly wallClockMs: () => number;
  readonly warn: (line: string) => void;
  /** An event from another member (or the fleet trigger), decoded and checked for shape. */
  readonly apply: (event: FleetEvent) => Promise<void>;
}

export interface FleetStats {
  connected: boolean;
  lastError: string | undefined;
  eventsIn: number;
  eventsOut: number;
  malformed: number;
  hitsReported: number;
  hitsDropped: number;
  snapshots: number;
}

/** A password or permission problem: a start-up error, not a reason to retry. */
export function isAuthError(err: unknown): boolean {
  return /WRONGPASS|NOAUTH|NOPERM|invalid username-password|AUTH failed/i.test(
    String((err as Error)?.message ?? err),
  );
}

const MAX_MEMBERS_SEEN = 4096;

export class FleetLink {
  readonly stats: FleetStats = {
    connected: false,
    lastError: undefined,
    eventsIn: 0,
    eventsOut: 0,
    malformed: 0,
    hitsReported: 0,
    hitsDropped: 0,
    snapshots: 0,
  };
  /** Origins of events read (capped: a forged flood of names cannot grow it). */
  readonly membersSeen = new Set<string>();
  readonly #o: FleetLinkOptions;
  readonly #keys;
  readonly #cmd: Redis;
  readonly #reader: Redis;
  #lastId: string | undefined;
  #stopped = false;
  #flushing = false;
  #reading: Promise<void> = Promise.resolve();
  #hits: { address: string; mode: Mode; port: number }[] = [];
  #reportTimer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  /** Wall-clock ms of the last event applied (lag = now − its time). */
  lastEventSinceMs = 0;

  constructor(o: FleetLinkOptions) {
    this.#o = o;
    this.#keys = fleetKeys(o.name);
    this.#lastId = o.store.lastId;
    this.#cmd = new Redis(this.#redisOptions());
    this.#reader = new Redis(this.#redisOptions());
    for (const c of [this.#cmd, this.#reader]) c.on("error", (err: Error) => this.#failed(err));
    this.#cmd.on("ready", () => {
      this.stats.connected = true;
      void this.#flush();
    });
    this.#cmd.on("end", () => {
      this.stats.connected = false;
    });
    this.#cmd.on("close", () => {
      this.stats.connected = false;
    });
  }

  #redisOptions(): RedisOptions {
    const o = this.#o;
    return {
      host: o.url.host,
      port: o.url.port,
      db: o.url.db,
      username: o.user,
      password: o.password,
      tls: o.url.tls ? { ...o.tls } : undefined,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: FLEET_LIMITS.commandTimeoutMs,
      // A Redis that stops answering (a dropped route) fails commands instead of hanging them.
      commandTimeout: FLEET_LIMITS.commandTimeoutMs,
      retryStrategy: (times: number) =>
        this.#stopped
          ? null
          : Math.min(
              FLEET_LIMITS.reconnectDelayMs * 2 ** Math.min(times, 10),
              FLEET_LIMITS.maxReconnectDelayMs,
            ),
    };
  }

  /**
   * Connects; rejects on a password or permission error (a start-up error). An unreachable
   * Redis is no error: the member runs alone and keeps trying.
   */
  async start(): Promise<void> {
    try {
      await Promise.all([this.#cmd.connect(), this.#reader.connect()]);
      await this.#cmd.ping();
    } catch (err) {
      // ioredis may report the refused AUTH on its error event and fail the command otherwise.
      if (isAuthError(err)) throw err;
      if (isAuthError(this.stats.lastError)) throw new Error(this.stats.lastError);
      this.#failed(err);
    }
    this.#reading = this.#readLoop();
    if (this.#o.share && this.#o.trigger > 0) {
      this.#reportTimer = setInterval(() => void this.#report(), FLEET_LIMITS.reportIntervalMs);
      this.#reportTimer.unref();
    }
  }

  /** A local event: kept in the outbox (synchronous, on disk), sent when Redis takes it. */
  publish(event: FleetEvent): void {
    if (!this.#o.share) return;
    this.#o.store.enqueue(encodeEvent(event));
    void this.#flush();
  }

  /** `unblock --fleet`: published even by a receive-only member (an operator's act). */
  publishUnblock(event: FleetEvent): void {
    this.#o.store.enqueue(encodeEvent(event));
    void this.#flush();
  }

  /** An admitted trap hit, for the fleet trigger: batched; past a batch's cap, counted and dropped. */
  report(address: string, mode: Mode, port: number): void {
    if (!this.#o.share || this.#o.trigger === 0) return;
    if (this.#hits.length >= FLEET_LIMITS.maxHitsPerReport) {
      this.stats.hitsDropped++;
      return;
    }
    this.#hits.push({ address, mode, port });
  }

  /** SIGHUP: a rotated password; both connections reconnect with it. */
  reauthenticate(password: string | undefined): void {
    for (const c of [this.#cmd, this.#reader]) {
      c.options.password = password;
      c.disconnect(true);
    }
  }

  get outboxSize(): number {
    return this.#o.store.outboxSize;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reportTimer !== undefined) clearInterval(this.#reportTimer);
    this.#wake?.();
    // Both first: a command in flight to a Redis that no longer answers is rejected, not awaited.
    this.#reader.disconnect();
    this.#cmd.disconnect();
    await this.#reading;
  }

  #failed(err: unknown): void {
    const text = String((err as Error)?.message ?? err).slice(0, 200);
    if (text !== this.stats.lastError) this.#o.warn(`fleet: ${text}`);
    this.stats.lastError = text;
  }

  async #script(lua: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const sha = shaOf(lua);
    try {
      return await this.#cmd.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith("NOSCRIPT")) throw err;
      return await this.#cmd.eval(lua, keys.length, ...keys, ...args);
    }
  }

  /** Sends the outbox oldest first; stops at the first failure (the next reconnect resumes). */
  async #flush(): Promise<void> {
    if (this.#flushing || this.#stopped) return;
    this.#flushing = true;
    try {
      const k = this.#keys;
      for (;;) {
        const batch = this.#o.store.oldest(64);
        if (batch.length === 0) break;
        for (const e of batch) {
          const args = [FLEET_LIMITS.streamMaxLength, this.#o.wallClockMs(), ...e.fields];
          await this.#script(PUBLISH_LUA, [k.events, k.blocks, k.expiry], args);
          this.#o.store.published(e.seq);
          this.stats.eventsOut++;
        }
      }
    } catch (err) {
      this.#failed(err);
    } finally {
      this.#flushing = false;
    }
  }

  async #report(): Promise<void> {
    if (this.#hits.length === 0 || !this.stats.connected) return;
    const hits = this.#hits;
    this.#hits = [];
    const k = this.#keys;
    const o = this.#o;
    const keys = [k.events, k.blocks, k.expiry, ...hits.map((h) => k.hits(h.address))];
    const args = [
      FLEET_LIMITS.streamMaxLength,
      o.wallClockMs(),
      o.trigger,
      o.windowMs,
      FLEET_LIMITS.maxHitsPerSource,
      o.member,
      o.banMs,
      ...hits.flatMap((h) => [h.address, h.mode, String(h.port)]),
    ];
    try {
      await this.#script(REPORT_LUA, keys, args);
      this.stats.hitsReported += hits.length;
    } catch (err) {
      this.stats.hitsDropped += hits.length;
      this.#failed(err);
    }
  }

  async #readLoop(): Promise<void> {
    let delayMs: number = FLEET_LIMITS.reconnectDelayMs;
    while (!this.#stopped) {
      try {
        if (await this.#behind()) await this.#snapshot();
        const res = (await this.#reader.xread(
          "COUNT",
          FLEET_LIMITS.readCount,
          "BLOCK",
          FLEET_LIMITS.readBlockMs,
          "STREAMS",
          this.#keys.events,
          this.#lastId ?? "0",
        )) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) await this.#take(id, fields);
        }
        delayMs = FLEET_LIMITS.reconnectDelayMs;
      } catch (err) {
        if (this.#stopped) break;
        this.#failed(err);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, delayMs).unref();
        });
        delayMs = Math.min(delayMs * 2, FLEET_LIMITS.maxReconnectDelayMs);
      }
    }
  }

  /** True when events this member has not seen were trimmed away (or it never read any). */
  async #behind(): Promise<boolean> {
    if (this.#lastId === undefined) return true;
    const first = (await this.#cmd.xrange(this.#keys.events, "-", "+", "COUNT", 1))[0]?.[0];
    return first !== undefined && compareIds(this.#lastId, first) < 0;
  }

  /** Joins late or after a gap: every current block, then the stream from its tip at that moment. */
  async #snapshot(): Promise<void> {
    const k = this.#keys;
    const tip = (await this.#cmd.xrevrange(k.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    let cursor = "0";
    let seen = 0;
    do {
      const [next, flat] = await this.#cmd.hscan(k.blocks, cursor, "COUNT", FLEET_LIMITS.snapshotBatch);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) {
        let fields: unknown;
        try {
          fields = JSON.parse(flat[i] ?? "");
        } catch {
          fields = undefined;
        }
        await this.#take(undefined, Array.isArray(fields) ? fields : [undefined]);
        seen++;
      }
    } while (cursor !== "0" && seen < FLEET_LIMITS.streamMaxLength && !this.#stopped);
    this.#lastId = tip;
    this.#o.store.lastId = tip;
    this.stats.snapshots++;
  }

  async #take(id: string | undefined, fields: readonly unknown[]): Promise<void> {
    const d = decodeEvent(fields, FLEET_LIMITS);
    if (!d.ok) {
      this.stats.malformed++;
      this.#o.warn(`fleet: dropped a malformed event (${d.reason})`);
    } else if (d.event.origin !== this.#o.member) {
      this.stats.eventsIn++;
      if (this.membersSeen.size < MAX_MEMBERS_SEEN) this.membersSeen.add(d.event.origin);
      this.lastEventSinceMs = d.event.sinceMs;
      // An expired block from the set of current blocks is history, not an event.
      const e = d.event;
      if (e.kind === "unblock" || e.expiresAtMs === 0 || e.expiresAtMs > this.#o.wallClockMs()) {
        try {
          await this.#o.apply(d.event);
        } catch (err) {
          this.#failed(err);
        }
      }
    }
    if (id !== undefined) {
      this.#lastId = id;
      this.#o.store.lastId = id;
    }
  }
}

const SHAS = new Map<string, string>();
function shaOf(lua: string): string {
  let sha = SHAS.get(lua);
  if (sha === undefined) {
    sha = createHash("sha1").update(lua).digest("hex");
    SHAS.set(lua, sha);
  }
  return sha;
}

/** Stream ids "ms-seq" in order. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am - bm || as - bs;
}
