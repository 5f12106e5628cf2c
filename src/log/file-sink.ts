/**
 * Lines for a descriptor that is a regular file (stderr redirected to a file). The first line
 * of a burst is written at once, in the caller's turn of the event loop; the lines that follow
 * in the same turn are joined into one write when the turn ends. So a lone probe's line is in
 * the file before its handler returns (a write through libuv's thread pool first has to wake
 * one of its threads: 0.1-0.2 ms on an idle host), and a flood costs two writes per turn, not
 * one per line. Appending to a regular file does not wait on a reader; Node writes
 * process.stderr to a file synchronously for the same reason. Pipes and sockets (journald)
 * keep the bounded stream in logger.ts: their reader may stall.
 */

import { fstatSync, writeSync } from "node:fs";

export class FileSink {
  readonly #fd: number;
  readonly #maxBufferedBytes: number;
  /** Lines of this turn after its first: written when the turn ends. */
  #pending: string[] | undefined;
  #pendingBytes = 0;
  #broken = false;
  dropped = 0;

  /** A sink for `fd` when it is a regular file; undefined otherwise (or when it cannot be told). */
  static forRegularFile(fd: number, maxBufferedBytes: number): FileSink | undefined {
    try {
      return fstatSync(fd).isFile() ? new FileSink(fd, maxBufferedBytes) : undefined;
    } catch {
      return undefined;
    }
  }

  constructor(fd: number, maxBufferedBytes: number) {
    this.#fd = fd;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  write(line: string): void {
    if (this.#broken) {
      this.dropped++;
      return;
    }
    if (this.#pending !== undefined) {
      const bytes = Buffer.byteLength(line);
      if (this.#pendingBytes + bytes > this.#maxBufferedBytes) {
        this.dropped++;
        return;
      }
      this.#pending.push(line);
      this.#pendingBytes += bytes;
      return;
    }
    this.#pending = [];
    this.#writeNow(line, 1);
    // After the write: the line goes out before the event loop is asked for anything.
    setImmediate(() => this.#flush());
  }

  /** Writes what waits; nothing stays behind, so ending needs no deadline. */
  end(_deadlineMs: number): Promise<void> {
    this.#flush();
    return Promise.resolve();
  }

  #flush(): void {
    const lines = this.#pending;
    this.#pending = undefined;
    this.#pendingBytes = 0;
    if (lines !== undefined && lines.length > 0) this.#writeNow(lines.join(""), lines.length);
  }

  #writeNow(text: string, lines: number): void {
    if (this.#broken) {
      this.dropped += lines;
      return;
    }
    try {
      const bytes = Buffer.from(text);
      let at = 0;
      while (at < bytes.length) at += writeSync(this.#fd, bytes, at);
    } catch {
      // ENOSPC, EIO, a descriptor closed under us: stop trying, count what is lost.
      this.#broken = true;
      this.dropped += lines;
    }
  }
}
