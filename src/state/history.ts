/**
 * The 1.2 history line (spec §7), which fail2ban's stock `portsentry` filter parses:
 * `<epoch> - MM/DD/YYYY HH:MM:SS Host: <name>/<ip> Port: <port> <TCP|UDP> Blocked` (local time).
 */

import { type FileHandle, open } from "node:fs/promises";
import { type Mode, type Protocol, protocolOf } from "../vocabulary.js";

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
 * Append-only, never truncated; each line is flushed to disk before the append resolves so a
 * crash cannot lose a block that was reported. Appends are serialised in call order.
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
      fh = await open(this.#path, "r");
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

  append(line: string): Promise<void> {
    const write = async () => {
      const fh = await open(this.#path, "a", 0o600);
      try {
        await fh.appendFile(`${line}\n`);
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
