/**
 * Opening files as root in directories others might reach. Every file the daemon writes goes
 * through here: nothing follows a symbolic link (O_NOFOLLOW), a temp file is created new
 * (O_EXCL) under a random name, and each directory is checked at start like sshd's StrictModes:
 * the directory and every directory above it owned by root (or us) and writable by nobody else
 * (a sticky directory such as /tmp is allowed above, never as the directory itself).
 */

import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/**
 * Opens `path` for appending (and reading its tail), created 0600 if missing; a symbolic link
 * fails with ELOOP.
 */
export function openForAppend(path: string): Promise<FileHandle> {
  return open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
}

/** Opens `path` for reading; a symbolic link fails with ELOOP. */
export function openForReading(path: string): Promise<FileHandle> {
  return open(path, O_RDONLY | O_NOFOLLOW);
}

export interface TempFile {
  readonly path: string;
  readonly handle: FileHandle;
}

/**
 * Creates a new file beside `target` (same directory, so a rename is atomic) under a name no one
 * can guess in advance; an existing file or link of that name fails with EEXIST.
 */
export async function createTempBeside(target: string, mode = 0o600): Promise<TempFile> {
  const path = join(dirname(target), `.${basename(target)}.tmp-${randomBytes(8).toString("hex")}`);
  const handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  return { path, handle };
}

export type DirCheck = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * Whether the daemon may write in `dir`: it and each directory above it owned by root or
 * `euid`, and not writable by group or others (above it, a sticky directory is allowed: there
 * nobody can rename or replace what another user owns). A symbolic link on the way is followed
 * and the directories above its target are checked too: whoever can replace the link can
 * redirect the path. The error names the path and why.
 */
export async function checkDirectory(
  dir: string,
  euid = process.geteuid?.() ?? 0,
  /** Only to create a directory in: a sticky one will do, as above. */
  toCreateIn = false,
): Promise<DirCheck> {
  const checked = new Set<string>();
  const wanted = resolve(dir);
  for (let lexical = wanted; ; lexical = dirname(lexical)) {
    let real: string;
    try {
      real = await realpath(lexical);
    } catch (err) {
      return { ok: false, error: `${lexical}: ${(err as Error).message}` };
    }
    const shown = real === lexical ? real : `${lexical} (${real})`;
    const r = await checkChain(real, shown, lexical === wanted && !toCreateIn, euid, checked);
    if (!r.ok || dirname(lexical) === lexical) return r;
  }
}

/** Checks `real` (shown as `shown`) and the directories above it, skipping those seen. */
async function checkChain(
  real: string,
  shown: string,
  isTarget: boolean,
  euid: number,
  checked: Set<string>,
): Promise<DirCheck> {
  for (let p = real, first = true; !checked.has(p); first = false) {
    const name = first ? shown : p;
    const st = await stat(p);
    if (!st.isDirectory()) return { ok: false, error: `${name} is not a directory` };
    if (st.uid !== 0 && st.uid !== euid) {
      return { ok: false, error: `${name} is owned by uid ${st.uid}, not by root: refused` };
    }
    const loose = st.mode & 0o022;
    const sticky = (st.mode & 0o1000) !== 0;
    if (loose !== 0 && ((first && isTarget) || !sticky)) {
      const who = loose & 0o002 ? "others" : "its group";
      const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
      return {
        ok: false,
        error: `${name} is writable by ${who} (mode ${mode}): refused; make it 0755 or stricter`,
      };
    }
    checked.add(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return { ok: true };
}

/**
 * Whether an error means the file system (or a quota) is full: by its code, or by its text for
 * errors that reached us as a responder's message.
 */
export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT" || e?.code === "SQLITE_FULL") return true;
  const text = typeof err === "string" ? err : typeof e?.message === "string" ? e.message : "";
  return /\b(ENOSPC|EDQUOT)\b|database or disk is full/.test(text);
}

/**
 * Where the daemon may not write, as an error naming the path and why; undefined if nowhere:
 * the first of `dirs` that fails checkDirectory, or the first of `files` that exists as
 * something other than a regular file (a symbolic link, say: appends would fail at each block).
 */
export async function unsafePlace(
  dirs: Iterable<string>,
  files: Iterable<string> = [],
): Promise<string | undefined> {
  for (const dir of new Set(dirs)) {
    const checked = await checkDirectory(dir);
    if (!checked.ok) return `unsafe directory: ${checked.error}`;
  }
  for (const file of files) {
    try {
      const st = await lstat(file);
      if (st.isSymbolicLink()) return `unsafe file: ${file} is a symbolic link: refused`;
      if (!st.isFile()) return `unsafe file: ${file} is not a regular file`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") return `${file}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/**
 * Makes the daemon's places ready at start, or says why not (the path named): each of `create`
 * is made (0750) if missing, but only inside a directory that passes the check (nobody else can
 * then slip a link in on the way); then `create` and `check` must pass checkDirectory and
 * `files` must not be links (unsafePlace).
 */
export async function preparePlaces(places: {
  readonly create: Iterable<string>;
  readonly check?: Iterable<string>;
  readonly files?: Iterable<string>;
}): Promise<string | undefined> {
  const create = [...new Set(places.create)];
  for (const dir of create) {
    const existing = await nearestExisting(dir);
    if (existing === resolve(dir)) continue;
    const parent = await checkDirectory(existing, undefined, true);
    if (!parent.ok) return `unsafe directory: ${parent.error}`;
    try {
      await mkdir(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      return `cannot create ${dir}: ${(err as Error).message}`;
    }
  }
  return unsafePlace([...create, ...(places.check ?? [])], places.files);
}

/** `dir` itself if it exists, else the nearest directory above it that does. */
async function nearestExisting(dir: string): Promise<string> {
  let p = resolve(dir);
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || dirname(p) === p) return p;
      p = dirname(p);
    }
  }
}
