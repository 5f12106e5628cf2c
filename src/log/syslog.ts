/**
 * RFC 3164 lines to the local syslog socket, the way glibc's syslog(3) sends them:
 * `<PRI>Mmm dd hh:mm:ss portsentry[pid]: message` (local time, day padded with a space, no
 * hostname, no trailing newline) as one datagram to /dev/log.
 *
 * Never blocks and never throws into the caller: the socket is non-blocking, a failed send is
 * counted and dropped, the first failure of each kind is said once on stderr, and a missing
 * socket is tried again after `retryMs` so that a restarted syslog daemon is picked up.
 * Node has no AF_UNIX datagram sockets, hence the `unix-dgram` native module.
 */

import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { performance } from "node:perf_hooks";
import { SYSLOG_FACILITIES, SYSLOG_LEVELS, type SyslogFacility, type SyslogLevel } from "../config/types.js";
import { safeLine } from "./sanitize.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

/** RFC 3164's limit for a whole datagram. */
export const DEFAULT_MAX_LINE_BYTES = 1024;
export const DEFAULT_RETRY_MS = 5000;

export function syslogPriority(facility: SyslogFacility, level: SyslogLevel): number {
  return SYSLOG_FACILITIES[facility] * 8 + SYSLOG_LEVELS[level];
}

/** `Mmm dd hh:mm:ss` in local time, as strftime("%h %e %T"). */
export function rfc3164Timestamp(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, " ");
  return `${MONTHS[date.getMonth()]} ${day} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

export interface Rfc3164Fields {
  readonly priority: number;
  readonly date: Date;
  readonly ident: string;
  readonly pid: number;
}

/** The whole datagram text; `message` is escaped and cut so the line fits in `maxBytes`. */
export function formatRfc3164(message: string, f: Rfc3164Fields, maxBytes = DEFAULT_MAX_LINE_BYTES): string {
  const header = `<${f.priority}>${rfc3164Timestamp(f.date)} ${f.ident}[${f.pid}]: `;
  return header + safeLine(message, Math.max(0, maxBytes - Buffer.byteLength(header)));
}

// --- the socket ---

interface DgramError extends Error {
  readonly code?: unknown;
}
interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, done: (err?: DgramError) => void): void;
  on(event: "error", listener: (err: DgramError) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: "unix_dgram"): DgramSocket;
}

function loadUnixDgram(): UnixDgram {
  return createRequire(import.meta.url)("unix-dgram") as UnixDgram;
}

/** errno number → name; the first name wins where two share a number (EAGAIN, not EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

/** unix-dgram reports `code` as a negative errno number; name it (`ENOENT`). */
export function errnoName(err: unknown): string {
  const code = (err as DgramError | undefined)?.code;
  if (typeof code === "number") return ERRNO_NAMES.get(Math.abs(code)) ?? `errno ${code}`;
  if (typeof code === "string") return code;
  return err instanceof Error ? err.message : String(err);
}

/** The receiver's queue is full: drop this line, but the socket is there. */
const CONGESTION = new Set(["EAGAIN", "EWOULDBLOCK", "ENOBUFS"]);

export interface SyslogOptions {
  /** Default `/dev/log`. */
  readonly path?: string;
  readonly facility?: SyslogFacility;
  /** Level of `send()` without an explicit level. */
  readonly level?: SyslogLevel;
  readonly ident?: string;
  readonly pid?: number;
  readonly maxLineBytes?: number;
  /** After the socket was found missing or refusing, wait this long before trying again. */
  readonly retryMs?: number;
  /** Wall clock for the timestamp. */
  readonly wallClockMs?: () => number;
  /** Monotonic clock for the retry delay. */
  readonly monoClockMs?: () => number;
  /** Where the one-time notices go; default stderr. */
  readonly warn?: (line: string) => void;
}

export interface SyslogStats {
  readonly sent: number;
  readonly dropped: number;
}

/** What the logger needs from a syslog writer; tests may pass a fake. */
export interface SyslogSink {
  send(message: string, level?: SyslogLevel): void;
  stats(): SyslogStats;
  close(): void;
}

export class SyslogWriter implements SyslogSink {
  readonly #path: string;
  readonly #facility: SyslogFacility;
  readonly #level: SyslogLevel;
  readonly #ident: string;
  readonly #pid: number;
  readonly #maxLineBytes: number;
  readonly #retryMs: number;
  readonly #wallClockMs: () => number;
  readonly #monoClockMs: () => number;
  readonly #warn: (line: string) => void;

  #socket: DgramSocket | undefined;
  #closed = false;
  #retryAtMs = Number.NEGATIVE_INFINITY;
  #sent = 0;
  #dropped = 0;
  #warnedUnavailable = false;
  #warnedCongested = false;

  constructor(o: SyslogOptions = {}) {
    this.#path = o.path ?? "/dev/log";
    this.#facility = o.facility ?? "daemon";
    this.#level = o.level ?? "notice";
    this.#ident = o.ident ?? "portsentry";
    this.#pid = o.pid ?? process.pid;
    this.#maxLineBytes = o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.#retryMs = o.retryMs ?? DEFAULT_RETRY_MS;
    this.#wallClockMs = o.wallClockMs ?? Date.now;
    this.#monoClockMs = o.monoClockMs ?? (() => performance.now());
    this.#warn = o.warn ?? ((line) => process.stderr.write(`${line}\n`));
  }

  send(message: string, level: SyslogLevel = this.#level): void {
    if (this.#closed || this.#monoClockMs() < this.#retryAtMs) {
      this.#dropped++;
      return;
    }
    const line = formatRfc3164(
      message,
      {
        priority: syslogPriority(this.#facility, level),
        date: new Date(this.#wallClockMs()),
        ident: this.#ident,
        pid: this.#pid,
      },
      this.#maxLineBytes,
    );
    const buf = Buffer.from(line);
    try {
      // Unconnected sendto: the path is looked up on every send, so a socket re-created by a
      // restarted syslog daemon is reached without any reconnect logic.
      this.#open().send(buf, 0, buf.length, this.#path, (err) => this.#done(err));
    } catch (err) {
      this.#done(err as DgramError);
    }
  }

  stats(): SyslogStats {
    return { sent: this.#sent, dropped: this.#dropped };
  }

  /** Releases the socket (its poll handle keeps the event loop alive). Later sends are dropped. */
  close(): void {
    this.#closed = true;
    const socket = this.#socket;
    this.#socket = undefined;
    try {
      socket?.close();
    } catch {
      // already closed: nothing to release
    }
  }

  #open(): DgramSocket {
    if (this.#socket === undefined) {
      const socket = loadUnixDgram().createSocket("unix_dgram");
      socket.on("error", (err) => this.#done(err)); // never let an 'error' event throw
      this.#socket = socket;
    }
    return this.#socket;
  }

  #done(err: DgramError | undefined): void {
    if (err === undefined || err === null) {
      this.#sent++;
      return;
    }
    this.#dropped++;
    const reason = errnoName(err);
    if (CONGESTION.has(reason)) {
      if (!this.#warnedCongested) {
        this.#warnedCongested = true;
        this.#warn(`portsentry: syslog socket ${this.#path} is full (${reason}); dropping lines`);
      }
      return;
    }
    this.#retryAtMs = this.#monoClockMs() + this.#retryMs;
    if (!this.#warnedUnavailable) {
      this.#warnedUnavailable = true;
      this.#warn(`portsentry: syslog socket ${this.#path} unavailable (${reason}); logging to stderr only`);
    }
  }
}
