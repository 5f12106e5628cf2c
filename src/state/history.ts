/**
 * The 1.2 history line (spec §7), which fail2ban's stock `portsentry` filter parses:
 * `<epoch> - MM/DD/YYYY HH:MM:SS Host: <name>/<ip> Port: <port> <TCP|UDP> Blocked` (local time).
 */

import type { FileHandle } from "node:fs/promises";
import { type Mode, type Protocol, protocolOf } from "../vocabulary.js";
import { openForAppend, openForReading } from "./safe-files.js";

const two = (n: number) => String(n).padStart(2, "0");

export function formatHistoryLine(
  when: Date,
  name: string,
  address: string,
  port: number,
  protocol: Protocol,
): string {
  const epoch = Math.floor(when.getTime() / 1000);
  const date = `${two(when.getMonth() + 1)}/${two(when.getDate())}/${when.getFullYear()}`;
  const time = `${two(when.getHours())}:${two(when.getMinutes())}:${two(when.getSeconds())}`;
  return `${epoch} - ${date} ${time} Host: ${name}/${address} Port: ${port} ${protocol} Blocked`;
}

/** The line of a block, dated when the block began. */
export function historyLineOf(
  block: { readonly address: string; readonly port: number; readonly mode: Mode; readonly sinceMs: number },
  name: string = block.address,
): string {
  return formatHistoryLine(new Date(block.sinceMs), name, block.address, block.port, protocolOf(block.mode));
}

/**
 * Append-only (only a torn last line is ever cut off); opened without following a symbolic
 * link; each line is flushed to disk before the append resolves so a crash cannot lose a block
 * that was reported. Appends are serialised in call order.
 */
export class HistoryFile {
  readonly #path: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  get path(): string {
    return this.#path;
  }

  /**
   * Whether the block's line (its second and its address, port and protocol) is among the
   * file's last `tailBytes`: a crash between the append and the `recorded` mark in the state
   * must not give fail2ban a second line for one block.
   */
  async hasLineOf(block: Parameters<typeof historyLineOf>[0], tailBytes = 64 * 1024): Promise<boolean> {
    const line = historyLineOf(block);
    const epoch = line.slice(0, line.indexOf(" - ") + 3);
    const rest = line.slice(line.lastIndexOf("/"));
    let fh: FileHandle;
    try {
      fh = await openForReading(this.#path);
    } catch {
      return false;
    }
    try {
      const { size } = await fh.stat();
      const length = Math.min(size, tailBytes);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      return buf
        .toString("utf8")
        .split("\n")
        .some((l) => l.startsWith(epoch) && l.endsWith(rest));
    } finally {
      await fh.close();
    }
  }

  /**
   * Appends `line` whole or not at all: one write() of the line and its newline. A write cut
   * short (a full disk) is cut back off at once, and any partial last line found before an
   * append (a crash mid-write, or a cut-back that failed) is truncated away first. Truncating,
   * not appending a newline: fail2ban does not consume a line without its newline, so its read
   * position is still at the start of the fragment, and the file keeps only whole lines (a
   * whole line that lacks only its newline gets it).
   */
  append(line: string): Promise<void> {
    const write = async () => {
      const fh = await openForAppend(this.#path);
      try {
        const size = await repairTail(fh);
        const buf = Buffer.from(`${line}\n`);
        let written = 0;
        try {
          written = (await fh.write(buf, 0, buf.length)).bytesWritten;
        } catch (err) {
          await fh.truncate(size).catch(() => {});
          throw err;
        }
        if (written !== buf.length) {
          await fh.truncate(size).catch(() => {});
          throw Object.assign(new Error(`${this.#path}: short write (${written} of ${buf.length} bytes)`), {
            code: "ENOSPC",
          });
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
    };
    const done = this.#queue.then(write);
    this.#queue = done.catch(() => {});
    return done;
  }
}

const WHOLE_LINE_END = Buffer.from(" Blocked");

/**
 * Repairs a last line without its newline; returns the size after. A line that ends as every
 * history line does lacks only its newline, which is added; anything else is a fragment of a
 * write cut short, cut back to the last newline.
 */
async function repairTail(fh: FileHandle, chunkBytes = 4096): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const tail = Buffer.alloc(Math.min(size, WHOLE_LINE_END.length + 1));
  await fh.read(tail, 0, tail.length, size - tail.length);
  if (tail[tail.length - 1] === 0x0a) return size;
  if (tail.subarray(tail.length - WHOLE_LINE_END.length).equals(WHOLE_LINE_END)) {
    await fh.write("\n");
    return size + 1;
  }
  let end = size - 1;
  const buf = Buffer.alloc(chunkBytes);
  while (end > 0) {
    const start = Math.max(0, end - chunkBytes);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) {
      await fh.truncate(start + nl + 1);
      return start + nl + 1;
    }
    end = start;
  }
  await fh.truncate(0);
  return 0;
}
