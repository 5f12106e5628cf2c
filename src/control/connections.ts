/**
 * The connections of the control server: each request line is read, parsed, dispatched to the
 * daemon's handler and answered with one response line.
 *
 * A hostile local client (root or the daemon's user, or a bug) must not hurt the daemon: lines
 * are capped, connections are bounded, a connection that sends no complete request in time is
 * closed, a client that does not read its answers is closed, a handler that hangs is answered
 * with `timeout`, and nothing a client sends can throw out of here.
 */

import type { Socket } from "node:net";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { auditLines, type ControlHandler, dispatch } from "./dispatch.js";
import {
  EVICT_IDLE_AFTER_MS,
  HANDLER_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "./protocol.js";
import { errorLine, okLine } from "./responses.js";

/** The limits connections live by; each defaults to the constant of protocol.ts. */
export interface ConnectionLimits {
  readonly maxConnections?: number;
  readonly idleTimeoutMs?: number;
  /** Idle time after which a connection yields its slot to a new one (all slots taken). */
  readonly evictIdleAfterMs?: number;
  readonly handlerTimeoutMs?: number;
  readonly maxRequestBytes?: number;
}

export interface ControlServerStats {
  /** Connections open now. */
  readonly connections: number;
  readonly accepted: number;
  /** Connections refused because MAX_CONNECTIONS were open. */
  readonly rejected: number;
  readonly badRequests: number;
  /**
   * Connections closed for idleness (the idle timeout, or a slot given up to a new connection),
   * and requests whose handler timed out.
   */
  readonly timeouts: number;
}

/** The connections of one server: their limits, their counters, and the answer to a request. */
export class ConnectionSet {
  readonly #handler: ControlHandler;
  readonly #log: Log | undefined;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly evictIdleAfterMs: number;
  readonly handlerTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly #open = new Set<Connection>();
  #accepted = 0;
  #rejected = 0;
  #badRequests = 0;
  #timeouts = 0;

  constructor(handler: ControlHandler, log: Log | undefined, o: ConnectionLimits) {
    this.#handler = handler;
    this.#log = log;
    this.maxConnections = o.maxConnections ?? MAX_CONNECTIONS;
    this.idleTimeoutMs = o.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.evictIdleAfterMs = o.evictIdleAfterMs ?? EVICT_IDLE_AFTER_MS;
    this.handlerTimeoutMs = o.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS;
    this.maxRequestBytes = o.maxRequestBytes ?? MAX_REQUEST_BYTES;
  }

  stats(): ControlServerStats {
    return {
      connections: this.#open.size,
      accepted: this.#accepted,
      rejected: this.#rejected,
      badRequests: this.#badRequests,
      timeouts: this.#timeouts,
    };
  }

  accept(socket: Socket): void {
    socket.on("error", () => {}); // a peer that resets is normal; 'close' follows
    if (this.#open.size >= this.maxConnections) this.#evictIdlest();
    if (this.#open.size >= this.maxConnections) {
      this.#rejected++;
      const line = errorLine(
        null,
        "busy",
        `too many control connections (${this.maxConnections}); try again`,
      );
      socket.setTimeout(1000, () => socket.destroy());
      socket.end(line, () => socket.destroy());
      return;
    }
    this.#accepted++;
    const conn = new Connection(socket, this);
    this.#open.add(conn);
    socket.on("close", () => this.#open.delete(conn));
  }

  /**
   * Frees the slot of the connection waiting longest for a request, if it has waited at least
   * `evictIdleAfterMs`: one that is being answered is never the one. A burst of new clients
   * (all idle for an instant) still meets `busy`.
   */
  #evictIdlest(): void {
    const now = performance.now();
    let victim: Connection | undefined;
    for (const c of this.#open) {
      const since = c.idleSinceMs;
      if (since === undefined || now - since < this.evictIdleAfterMs) continue;
      if (victim === undefined || since < (victim.idleSinceMs ?? since)) victim = c;
    }
    if (victim === undefined) return;
    this.#open.delete(victim);
    this.#timeouts++;
    victim.giveUpSlot();
  }

  closeAll(): void {
    for (const c of this.#open) c.destroy();
  }

  countIdleTimeout(): void {
    this.#timeouts++;
  }

  /** One request line → one response line. Never rejects. */
  async answer(line: Buffer): Promise<string> {
    let text: string;
    try {
      text = utf8.decode(line);
    } catch {
      this.#badRequests++;
      return errorLine(null, "bad-json", "the request is not valid UTF-8");
    }
    const parsed = parseRequest(text);
    if (!parsed.ok) {
      this.#badRequests++;
      return errorLine(parsed.id, parsed.error.code, parsed.error.message);
    }
    const { id, cmd, args } = parsed.request;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.handlerTimeoutMs);
    });
    try {
      const work = Promise.resolve().then(() => dispatch(this.#handler, cmd, args));
      work.catch(() => {}); // a late failure after a timeout is not unhandled
      const result = await Promise.race([work, timedOut]);
      if (result === TIMED_OUT) {
        this.#timeouts++;
        this.#log?.warn(msg.controlTimedOut(cmd, this.handlerTimeoutMs));
        return errorLine(id, "timeout", `${cmd} did not finish in time; it may still complete`);
      }
      for (const audit of auditLines(cmd, result)) this.#log?.notice(audit);
      return okLine(id, result);
    } catch (err) {
      this.#log?.error(msg.controlCommandFailed(cmd, (err as Error).message));
      return errorLine(id, "internal", `${cmd} failed inside the daemon; see its log`);
    } finally {
      clearTimeout(timer);
    }
  }
}

const TIMED_OUT = Symbol("timed out");

const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY = Buffer.alloc(0);

/**
 * One client. Requests are answered one at a time, in order; reading pauses while a request is
 * handled and while the client does not read its answers, so buffered input stays below one
 * line plus one read.
 */
class Connection {
  readonly #socket: Socket;
  readonly #ctx: ConnectionSet;
  #pending: Buffer = EMPTY;
  #busy = false;
  #closing = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** When the idle clock started (performance.now()); undefined while a request is handled. */
  idleSinceMs: number | undefined;

  constructor(socket: Socket, ctx: ConnectionSet) {
    this.#socket = socket;
    this.#ctx = ctx;
    socket.on("data", (chunk: Buffer) => {
      if (this.#closing) return;
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      this.#next();
    });
    socket.on("close", () => this.#clearIdle());
    this.#armIdle();
  }

  destroy(): void {
    this.#clearIdle();
    this.#socket.destroy();
  }

  /** Closed to make room for a new connection while it waited for a request. */
  giveUpSlot(): void {
    this.#closeWith(errorLine(null, "timeout", "closed: idle while every control connection was taken"));
  }

  #next(): void {
    while (!this.#busy && !this.#closing && !this.#socket.destroyed) {
      const newline = this.#pending.indexOf(0x0a);
      const max = this.#ctx.maxRequestBytes;
      if (newline < 0 ? this.#pending.length > max : newline > max) {
        this.#closeWith(errorLine(null, "line-too-long", `a request line may hold at most ${max} bytes`));
        return;
      }
      if (newline < 0) return;
      const line = this.#pending.subarray(0, newline);
      this.#pending = newline + 1 === this.#pending.length ? EMPTY : this.#pending.subarray(newline + 1);
      if (isBlank(line)) continue; // tolerated, but does not count as activity
      this.#clearIdle();
      this.#busy = true;
      this.#socket.pause();
      void this.#ctx.answer(line).then((response) => this.#answered(response));
    }
  }

  #answered(response: string): void {
    this.#busy = false;
    if (this.#closing || this.#socket.destroyed) return;
    this.#armIdle();
    const resume = () => {
      this.#socket.resume();
      this.#next();
    };
    if (this.#socket.write(response)) resume();
    else this.#socket.once("drain", resume);
  }

  #closeWith(line: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#pending = EMPTY;
    this.#clearIdle();
    this.#socket.setTimeout(1000, () => this.#socket.destroy());
    this.#socket.end(line, () => this.#socket.destroy());
  }

  /** The idle clock runs while we wait for a request (or for the client to read an answer). */
  #armIdle(): void {
    this.#clearIdle();
    this.idleSinceMs = performance.now();
    this.#idleTimer = setTimeout(() => {
      this.#ctx.countIdleTimeout();
      this.#closeWith(errorLine(null, "timeout", `no complete request within ${this.#ctx.idleTimeoutMs} ms`));
    }, this.#ctx.idleTimeoutMs);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.idleSinceMs = undefined;
  }
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}
