/**
 * Fans one message out to syslog, a stderr mirror (foreground) and a JSON-lines event sink.
 * Never waits on a reader and never throws into the caller: a stream whose buffer is over
 * `maxBufferedBytes` drops lines (counted) instead of growing memory, a stream that errors is
 * switched off, and only a regular file is written in the caller's turn (file-sink.ts).
 * Repeated events can be rate-limited by key.
 */

import { constants, createWriteStream, openSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import type { SyslogFacility, SyslogLevel } from "../config/types.js";
import { FileSink } from "./file-sink.js";
import { suppressed } from "./messages.js";
import { RateLimiter, type RateLimitOptions, type RateLimitStats } from "./ratelimit.js";
import { safeLine } from "./sanitize.js";
import { DEFAULT_MAX_LINE_BYTES, type SyslogSink, type SyslogStats, SyslogWriter } from "./syslog.js";

/** Structured fields of an event, added to its JSON line (`ip`, `port`, `proto`, ...). */
export type LogEvent = Readonly<Record<string, unknown>>;

/** What the rest of the daemon logs through; inject a fake (MemoryLog) in tests. */
export interface Log {
  notice(msg: string, event?: LogEvent): void;
  warn(msg: string, event?: LogEvent): void;
  error(msg: string, event?: LogEvent): void;
  /** Like notice, but held back (and counted) when `key`, or everything, speaks too often. */
  limited(key: string, msg: string, event?: LogEvent): void;
}

export type LogLevelName = "notice" | "warning" | "err";

export interface LoggerOptions {
  readonly syslog?: SyslogSink;
  /** Mirror of plain message lines (foreground). */
  readonly stderr?: Writable | FileSink;
  /** JSON lines, one object per event. */
  readonly events?: Writable;
  readonly rateLimit?: RateLimitOptions;
  readonly wallClockMs?: () => number;
  readonly monoClockMs?: () => number;
  readonly maxLineBytes?: number;
  readonly maxBufferedBytes?: number;
}

export interface LoggerStats {
  readonly syslog: SyslogStats | undefined;
  readonly stderrDropped: number;
  readonly eventsDropped: number;
  readonly rateLimit: RateLimitStats;
}

const DEFAULT_MAX_BUFFERED_BYTES = 1 << 20;

/** Field names of every JSON line; extra fields with these names are not allowed to override. */
const RESERVED = new Set(["ts", "level", "tag", "msg"]);
const TAG = /^([a-z]+): /;

/** A stream sink that drops instead of blocking or buffering without bound. */
class StreamSink {
  readonly #stream: Writable;
  readonly #maxBufferedBytes: number;
  #broken = false;
  dropped = 0;

  constructor(stream: Writable, maxBufferedBytes: number) {
    this.#stream = stream;
    this.#maxBufferedBytes = maxBufferedBytes;
    // An unhandled 'error' (EPIPE on stderr, EACCES on the events file) would kill the process.
    stream.on("error", () => {
      this.#broken = true;
    });
  }

  write(line: string): void {
    if (this.#broken || this.#stream.writableLength > this.#maxBufferedBytes) {
      this.dropped++;
      return;
    }
    try {
      this.#stream.write(line);
    } catch {
      this.#broken = true;
      this.dropped++;
    }
  }

  /** Flushes what is buffered; resolves after `deadlineMs` at the latest. */
  end(deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      timer.unref();
      try {
        this.#stream.end(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

export class Logger implements Log {
  readonly #syslog: SyslogSink | undefined;
  readonly #stderr: StreamSink | FileSink | undefined;
  readonly #events: StreamSink | undefined;
  readonly #limiter: RateLimiter;
  readonly #wallClockMs: () => number;
  readonly #monoClockMs: () => number;
  readonly #maxLineBytes: number;

  constructor(o: LoggerOptions = {}) {
    const maxBufferedBytes = o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#syslog = o.syslog;
    this.#stderr =
      o.stderr instanceof FileSink || o.stderr === undefined
        ? o.stderr
        : new StreamSink(o.stderr, maxBufferedBytes);
    this.#events = o.events ? new StreamSink(o.events, maxBufferedBytes) : undefined;
    this.#limiter = new RateLimiter(o.rateLimit);
    this.#wallClockMs = o.wallClockMs ?? Date.now;
    this.#monoClockMs = o.monoClockMs ?? (() => performance.now());
    this.#maxLineBytes = o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  notice(msg: string, event?: LogEvent): void {
    this.#emit("notice", msg, event);
  }

  warn(msg: string, event?: LogEvent): void {
    this.#emit("warning", msg, event);
  }

  error(msg: string, event?: LogEvent): void {
    this.#emit("err", msg, event);
  }

  limited(key: string, msg: string, event?: LogEvent): void {
    const decision = this.#limiter.check(key, this.#monoClockMs());
    if (!decision.allow) return;
    if (decision.suppressed > 0) {
      this.#emit("notice", suppressed(decision.suppressed, key), { key, suppressed: decision.suppressed });
    }
    this.#emit("notice", msg, event);
  }

  stats(): LoggerStats {
    return {
      syslog: this.#syslog?.stats(),
      stderrDropped: this.#stderr?.dropped ?? 0,
      eventsDropped: this.#events?.dropped ?? 0,
      rateLimit: this.#limiter.stats(),
    };
  }

  /** Closes syslog and flushes the streams (waits at most `deadlineMs` for them). */
  async close(deadlineMs = 2000): Promise<void> {
    this.#syslog?.close();
    await Promise.all([this.#stderr?.end(deadlineMs), this.#events?.end(deadlineMs)]);
  }

  #emit(level: LogLevelName, msg: string, event: LogEvent | undefined): void {
    try {
      // Syslog escapes and caps by itself; notice goes at the configured SYSLOG_LEVEL.
      this.#syslog?.send(msg, level === "notice" ? undefined : level);
      if (this.#stderr === undefined && this.#events === undefined) return;
      const line = safeLine(msg, this.#maxLineBytes);
      this.#stderr?.write(`${line}\n`);
      this.#events?.write(`${this.#json(level, line, event)}\n`);
    } catch {
      // Logging must never take the daemon down; every sink already counts its own drops.
    }
  }

  #json(level: LogLevelName, msg: string, event: LogEvent | undefined): string {
    const record: Record<string, unknown> = {
      ts: new Date(this.#wallClockMs()).toISOString(),
      level,
      tag: TAG.exec(msg)?.[1] ?? "",
      msg,
    };
    for (const [k, v] of Object.entries(event ?? {})) if (!RESERVED.has(k)) record[k] = v;
    let text: string;
    try {
      text = JSON.stringify(record);
    } catch {
      // BigInt or a cycle in the extra fields: keep the event, lose the extras.
      return JSON.stringify({ ts: record.ts, level, tag: record.tag, msg, extraError: "unserializable" });
    }
    // Extra fields can carry attacker text too: keep the line bounded.
    if (Buffer.byteLength(text) > 4 * this.#maxLineBytes) {
      return JSON.stringify({ ts: record.ts, level, tag: record.tag, msg, extraError: "too long" });
    }
    return text;
  }
}

export interface OpenLoggerOptions {
  readonly facility?: SyslogFacility;
  readonly level?: SyslogLevel;
  /** Default `/dev/log`; `false` turns syslog off. */
  readonly syslogPath?: string | false;
  /** Mirror every line to stderr (the daemon runs in the foreground). */
  readonly foreground?: boolean;
  /** Append JSON lines to this file. */
  readonly eventsFile?: string;
  readonly rateLimit?: RateLimitOptions;
}

/** The daemon's logger, built from config values. */
export function openLogger(o: OpenLoggerOptions = {}): Logger {
  const syslog =
    o.syslogPath === false
      ? undefined
      : new SyslogWriter({ path: o.syslogPath, facility: o.facility, level: o.level });
  // A file takes each line at once. Anything else gets our own stream on fd 2: its writes go
  // through libuv's thread pool, so a stalled reader of stderr (a slow journald) fills a
  // bounded buffer instead of blocking the event loop.
  const stderr = o.foreground
    ? (FileSink.forRegularFile(2, DEFAULT_MAX_BUFFERED_BYTES) ??
      createWriteStream("", { fd: 2, autoClose: false }))
    : undefined;
  const events = o.eventsFile !== undefined ? openEventsFile(o.eventsFile) : undefined;
  events?.once("error", (err: NodeJS.ErrnoException) => {
    process.stderr.write(
      `portsentry: event log ${o.eventsFile} unwritable (${err.code ?? err.message}); events dropped\n`,
    );
  });
  return new Logger({ syslog, stderr, events, rateLimit: o.rateLimit });
}

/**
 * The JSON events file, appended without following a symbolic link (as every file written as
 * root); an error is reported like a failed write, through the stream's "error" event.
 */
function openEventsFile(path: string): Writable {
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = constants;
  try {
    return createWriteStream("", { fd: openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o640) });
  } catch (err) {
    const failed = new Writable({ write: (_chunk, _encoding, done) => done() });
    process.nextTick(() => failed.destroy(err as Error));
    return failed;
  }
}
