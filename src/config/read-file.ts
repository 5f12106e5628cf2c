/**
 * Reads a config or ignore file as text, refusing what must not be read: a FIFO or device
 * (open never blocks: O_NONBLOCK), a huge file, a world-writable file (whoever can write
 * portsentry.conf can make the daemon run commands as root). Failures are ConfigErrors with
 * line 0 and a hint; never throws.
 */

import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { ConfigError } from "./types.js";

export interface ReadOptions {
  /** Largest accepted size. */
  readonly maxBytes: number;
  /** Hint appended when the file does not exist. */
  readonly missingHint: string;
  /** What a world-writable file would let others do (for the message). */
  readonly writableRisk: string;
}

export type ReadResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly error: ConfigError };

export async function readConfigText(path: string, options: ReadOptions): Promise<ReadResult> {
  const fail = (message: string): ReadResult => ({
    ok: false,
    error: { file: path, line: 0, key: undefined, message },
  });
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = await handle.stat();
    if (!st.isFile()) return fail("cannot read: not a regular file");
    if (st.size > options.maxBytes) {
      return fail(`cannot read: file is too large (${st.size} bytes, at most ${options.maxBytes})`);
    }
    if ((st.mode & 0o002) !== 0) {
      return fail(`refusing a world-writable file: ${options.writableRisk}; fix with: chmod o-w ${path}`);
    }
    const bytes = await handle.readFile();
    if (bytes.length > options.maxBytes) {
      return fail(`cannot read: file is too large (more than ${options.maxBytes} bytes)`);
    }
    // Invalid UTF-8 becomes U+FFFD, which the parsers report with its line number.
    return { ok: true, text: new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(bytes) };
  } catch (e) {
    return fail(describeError(e, options.missingHint));
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function describeError(e: unknown, missingHint: string): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  switch (code) {
    case "ENOENT":
      return `cannot read: no such file; ${missingHint}`;
    case "EACCES":
    case "EPERM":
      return "cannot read: permission denied; run as root or make the file readable";
    case "EISDIR":
      return "cannot read: is a directory, not a file";
    case "ENOTDIR":
      return "cannot read: a component of the path is not a directory";
    case "ELOOP":
      return "cannot read: too many levels of symbolic links";
    default:
      return `cannot read: ${e instanceof Error ? e.message : String(e)}`;
  }
}
