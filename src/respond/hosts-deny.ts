/**
 * TCP wrappers: KILL_HOSTS_DENY lines in WRAPPER_HOSTS_DENY (spec §6). The file is shared with
 * the operator and other tools, so: a symlinked or world-writable file is refused, a line
 * already present is not added again, and every change is written atomically (temp + rename)
 * keeping the file's mode. Changes are serialised.
 *
 * A file that is a mount point (a bind mount in a container, `ip netns exec` with
 * /etc/netns/NAME/hosts.deny) cannot be replaced by rename (EBUSY): then the file is rewritten
 * in place through one descriptor (read, write, truncate, fsync), still serialised, and the
 * fallback is reported once.
 */

import { constants } from "node:fs";
import { lstat, open, rename, unlink } from "node:fs/promises";
import * as msg from "../log/messages.js";
import { createTempBeside, openForReading, type TempFile } from "../state/safe-files.js";
import type { BlockTarget, Responder, ResponderResult } from "./responder.js";
import { expandMacros } from "./template.js";

type Change = (lines: readonly string[]) => readonly string[] | undefined;

export class HostsDenyResponder implements Responder {
  readonly name = "hosts.deny";
  readonly #path: string;
  readonly #template: string;
  readonly #warn: (message: string) => void;
  #queue: Promise<unknown> = Promise.resolve();
  /** Set once a rename met EBUSY: the path is a mount point, rewritten in place from then on. */
  #inPlace = false;

  /** `warn` hears, once, that the file is rewritten in place. */
  constructor(path: string, template: string, warn: (message: string) => void = () => {}) {
    this.#path = path;
    this.#template = template;
    this.#warn = warn;
  }

  /** The line written for a target: IPv6 addresses in brackets, as TCP wrappers want them. */
  lineFor(target: BlockTarget): string {
    const host = target.family === 6 ? `[${target.address}]` : target.address;
    return expandMacros(this.#template, { ...target, address: host });
  }

  async start(): Promise<ResponderResult> {
    const checked = await this.#check();
    return checked.ok ? { ok: true } : checked;
  }

  ban(target: BlockTarget, _timeoutSec = 0): Promise<ResponderResult> {
    const line = this.lineFor(target);
    return this.#serial(() => this.#edit((lines) => (lines.includes(line) ? undefined : [...lines, line])));
  }

  unban(target: BlockTarget): Promise<ResponderResult> {
    const line = this.lineFor(target);
    return this.#serial(() =>
      this.#edit((lines) => (lines.includes(line) ? lines.filter((l) => l !== line) : undefined)),
    );
  }

  /** The lines we add are indistinguishable from the operator's; unban removes them one by one. */
  async flush(): Promise<ResponderResult> {
    return { ok: true };
  }

  async stop(): Promise<void> {
    await this.#queue.catch(() => {});
  }

  #serial(step: () => Promise<ResponderResult>): Promise<ResponderResult> {
    const done = this.#queue.then(step, step);
    this.#queue = done;
    return done;
  }

  async #check(): Promise<{ ok: true; mode: number } | { ok: false; error: string }> {
    try {
      const st = await lstat(this.#path);
      if (st.isSymbolicLink()) return { ok: false, error: `${this.#path} is a symbolic link: refused` };
      if (!st.isFile()) return { ok: false, error: `${this.#path} is not a regular file` };
      if (st.mode & 0o002) return { ok: false, error: `${this.#path} is world-writable: refused` };
      return { ok: true, mode: st.mode & 0o7777 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, mode: 0o644 };
      return { ok: false, error: `${this.#path}: ${(err as Error).message}` };
    }
  }

  /** Applies `change` to the file's lines; `undefined` from `change` means nothing to do. */
  async #edit(change: Change): Promise<ResponderResult> {
    const checked = await this.#check();
    if (!checked.ok) return checked;
    if (this.#inPlace) return this.#editInPlace(change);
    let text = "";
    try {
      const fh = await openForReading(this.#path);
      try {
        text = await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        return { ok: false, error: (err as Error).message };
    }
    const next = change(splitLines(text));
    if (next === undefined) return { ok: true };
    let temp: TempFile | undefined;
    try {
      // A random name created new: nothing planted beside hosts.deny is written through.
      temp = await createTempBeside(this.#path, checked.mode);
      const fh = temp.handle;
      try {
        await fh.writeFile(next.length ? `${next.join("\n")}\n` : "");
        await fh.chmod(checked.mode);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp.path, this.#path);
      return { ok: true };
    } catch (err) {
      if (temp !== undefined) await unlink(temp.path).catch(() => {});
      if ((err as NodeJS.ErrnoException).code === "EBUSY") {
        this.#inPlace = true;
        this.#warn(msg.hostsDenyInPlace(this.#path));
        return this.#editInPlace(change);
      }
      return { ok: false, error: `${this.#path}: ${(err as Error).message}` };
    }
  }

  /** Read, change and write back through one descriptor; O_NOFOLLOW keeps the symlink refusal. */
  async #editInPlace(change: Change): Promise<ResponderResult> {
    try {
      const fh = await open(this.#path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      try {
        const next = change(splitLines(await fh.readFile("utf8")));
        if (next === undefined) return { ok: true };
        const bytes = Buffer.from(next.length ? `${next.join("\n")}\n` : "");
        await fh.write(bytes, 0, bytes.length, 0);
        await fh.truncate(bytes.length);
        await fh.sync();
        return { ok: true };
      } finally {
        await fh.close();
      }
    } catch (err) {
      return { ok: false, error: `${this.#path}: ${(err as Error).message}` };
    }
  }
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
