/**
 * `<BLOCKED_FILE>.<mode>`: one history-format line per host currently blocked in that mode
 * (spec §7). Matching is by exact address (1.2 matched substrings: 1.2.3.4 looked blocked when
 * 11.2.3.4 was). Every change rewrites the file atomically (temp file + fsync + rename);
 * changes that arrive while a write is under way are coalesced into the next write.
 */

import { rename, unlink } from "node:fs/promises";
import { createTempBeside } from "./safe-files.js";

export class BlockedFile {
  readonly #path: string;
  readonly #lines = new Map<string, string>();
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(path: string) {
    this.#path = path;
  }

  get path(): string {
    return this.#path;
  }

  has(address: string): boolean {
    return this.#lines.has(address);
  }

  get size(): number {
    return this.#lines.size;
  }

  addresses(): IterableIterator<string> {
    return this.#lines.keys();
  }

  /** Sets (or, with `undefined`, removes) a line without writing (call flush()). */
  set(address: string, line: string | undefined): void {
    if (line === undefined) this.#lines.delete(address);
    else this.#lines.set(address, line);
  }

  /** Records a block; resolves when the file on disk includes it. */
  add(address: string, line: string): Promise<void> {
    this.#lines.set(address, line);
    return this.flush();
  }

  remove(address: string): Promise<void> {
    if (!this.#lines.delete(address)) return Promise.resolve();
    return this.flush();
  }

  /** Writes the current content; concurrent calls share writes. */
  flush(): Promise<void> {
    this.#dirty = true;
    if (this.#writing === undefined) {
      this.#writing = this.#drain().finally(() => {
        this.#writing = undefined;
      });
    }
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      await this.#writeAtomically([...this.#lines.values()].map((l) => `${l}\n`).join(""));
    }
  }

  async #writeAtomically(content: string): Promise<void> {
    // A new file under a random name: a link planted beside the target is never written through.
    const temp = await createTempBeside(this.#path);
    try {
      await temp.handle.writeFile(content);
      await temp.handle.sync();
      await temp.handle.close();
      // rename() replaces whatever is at the target (a planted link included), never follows it.
      await rename(temp.path, this.#path);
    } catch (err) {
      await temp.handle.close().catch(() => {});
      await unlink(temp.path).catch(() => {});
      throw err;
    }
  }
}
