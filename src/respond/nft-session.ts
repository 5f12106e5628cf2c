/**
 * One long-lived `nft -i` process that runs nft command lines without a process per block.
 *
 * How completion is known: `nft -i` runs each stdin line as its own transaction and prints
 * nothing on success; on failure it writes `Error: ...`, the offending line and a caret line to
 * stderr (unbuffered). After every command line we send a marker line, `%psfw-sync N`, which is
 * a lexer-level syntax error in every nft version: it never touches the kernel and nft answers
 * it with an error block that echoes the marker. When the echo of marker N arrives on stderr,
 * command N is done, and any `Error:` lines seen since marker N-1 are its failure.
 */

import { type ChildProcess, spawn } from "node:child_process";

export type NftLineResult =
  | { readonly kind: "ok" }
  /** nft ran the line and refused it. */
  | { readonly kind: "nft-error"; readonly error: string }
  /** The helper died, hung or could not start: whether the line took effect is unknown. */
  | { readonly kind: "helper-failure"; readonly error: string };

export interface NftSessionOptions {
  /** argv prefix that runs nft, e.g. `["nft"]` or `["ip", "netns", "exec", "ns1", "nft"]`. */
  readonly command: readonly string[];
  /** A line without its marker back after this long means the helper is hung: it is killed. */
  readonly commandTimeoutMs: number;
  /** Restart delay after a helper that died without ever completing a line; doubles up to max. */
  readonly restartBackoffMinMs: number;
  readonly restartBackoffMaxMs: number;
}

interface PendingLine {
  readonly line: string;
  readonly marker: string;
  readonly resolve: (r: NftLineResult) => void;
  timer: NodeJS.Timeout | undefined;
  written: boolean;
}

const MARKER_PREFIX = "%psfw-sync ";
const MAX_COLLECTED_LINES = 64;
const MAX_PARTIAL_LINE_CHARS = 1024 * 1024;

export class NftSession {
  readonly #options: NftSessionOptions;
  #child: ChildProcess | undefined;
  /** Lines written to the current child, oldest first: markers come back in this order. */
  #inFlight: PendingLine[] = [];
  /** Lines waiting for a (re)start of the helper. */
  #waiting: PendingLine[] = [];
  #seq = 0;
  #partial = "";
  #collected: string[] = [];
  #skipCaret = false;
  #childCompletedLine = false;
  #backoffMs = 0;
  #restartAtMs = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: NftSessionOptions) {
    this.#options = options;
  }

  /** Process id of the running helper (diagnostics and tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Runs one nft line (one transaction; several commands may be joined with `;`). An empty line
   * only waits for the helper to be ready.
   */
  exec(line: string): Promise<NftLineResult> {
    if (this.#closed) return Promise.resolve({ kind: "helper-failure", error: "nft helper is closed" });
    if (/[\r\n]/.test(line))
      return Promise.resolve({ kind: "nft-error", error: "line break in nft command" });
    return new Promise((resolve) => {
      this.#seq += 1;
      const p: PendingLine = {
        line,
        marker: `${MARKER_PREFIX}${this.#seq}`,
        resolve,
        timer: undefined,
        written: false,
      };
      p.timer = setTimeout(() => this.#onTimeout(p), this.#options.commandTimeoutMs);
      if (this.#child) this.#write(p);
      else {
        this.#waiting.push(p);
        this.#scheduleStart();
      }
    });
  }

  /** Lets the helper finish what it has, then ends it (SIGKILL after `graceMs`). */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    for (const p of this.#waiting.splice(0))
      this.#settle(p, { kind: "helper-failure", error: "nft helper closed" });
    const child = this.#child;
    if (!child) return;
    // #child is cleared when its "close" arrives, so it has not arrived yet.
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.stdin?.end();
    const killTimer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(killTimer);
  }

  #scheduleStart(): void {
    if (this.#child || this.#restartTimer || this.#closed) return;
    const delayMs = Math.max(0, this.#restartAtMs - Date.now());
    if (delayMs === 0) this.#start();
    else
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined;
        this.#start();
      }, delayMs);
  }

  #start(): void {
    if (this.#closed || this.#child) return;
    const [file, ...args] = this.#options.command;
    if (file === undefined) {
      for (const p of this.#waiting.splice(0))
        this.#settle(p, { kind: "helper-failure", error: "empty nft command" });
      return;
    }
    const child = spawn(file, [...args, "-i"], { stdio: ["pipe", "ignore", "pipe"], windowsHide: true });
    this.#child = child;
    this.#partial = "";
    this.#collected = [];
    this.#skipCaret = false;
    this.#childCompletedLine = false;
    let dead = false;
    const onDead = (reason: string) => {
      if (dead) return;
      dead = true;
      this.#onDead(child, reason);
    };
    child.on("error", (e) => onDead(`nft helper failed: ${e.message}`));
    // "close", not "exit": markers still in the stderr pipe must be read before in-flight lines fail.
    child.on("close", (code, signal) => onDead(`nft helper exited (${signal ?? `status ${code}`})`));
    child.stdin?.on("error", () => {}); // EPIPE: the exit handler reports it
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => this.#onStderr(child, chunk));
    for (const p of this.#waiting.splice(0)) this.#write(p);
  }

  #write(p: PendingLine): void {
    p.written = true;
    this.#inFlight.push(p);
    this.#child?.stdin?.write(`${p.line}\n${p.marker}\n`);
  }

  #onStderr(child: ChildProcess, chunk: string): void {
    if (child !== this.#child) return;
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    if (this.#partial.length > MAX_PARTIAL_LINE_CHARS) {
      child.kill("SIGKILL"); // a runaway line: nothing sane is being said
      return;
    }
    for (const raw of lines) this.#onLine(raw.replace(/\r$/, ""));
  }

  #onLine(line: string): void {
    if (this.#skipCaret) {
      this.#skipCaret = false;
      if (/^[\s^~]*$/.test(line)) return; // the caret under the marker's echo
    }
    const head = this.#inFlight[0];
    if (head !== undefined && line === head.marker) {
      // The line just before the echo is the marker's own "Error: syntax error ..." line.
      if (this.#collected.at(-1)?.startsWith("Error")) this.#collected.pop();
      const errors = this.#collected.filter((l) => l.startsWith("Error"));
      this.#collected = [];
      this.#skipCaret = true;
      this.#inFlight.shift();
      this.#childCompletedLine = true;
      this.#backoffMs = 0;
      this.#settle(
        head,
        errors.length === 0 ? { kind: "ok" } : { kind: "nft-error", error: errors.join("; ") },
      );
      return;
    }
    if (this.#collected.length < MAX_COLLECTED_LINES) this.#collected.push(line);
  }

  #onTimeout(p: PendingLine): void {
    p.timer = undefined;
    if (!p.written) {
      const i = this.#waiting.indexOf(p);
      if (i >= 0) this.#waiting.splice(i, 1);
      this.#settle(p, { kind: "helper-failure", error: "nft helper not available in time" });
      return;
    }
    // A written line that never completed: the helper is hung. Kill it and let go of it now,
    // so that the next line starts a new one instead of queueing behind a dying process.
    const child = this.#child;
    const reason = `nft helper gave no answer in ${this.#options.commandTimeoutMs} ms`;
    this.#settle(p, { kind: "helper-failure", error: reason });
    if (child) {
      child.kill("SIGKILL");
      this.#onDead(child, reason);
    }
  }

  /** The current child is gone or given up: fail what it holds, schedule a restart. */
  #onDead(child: ChildProcess, reason: string): void {
    if (child === this.#child) {
      this.#child = undefined;
      for (const p of this.#inFlight.splice(0)) this.#settle(p, { kind: "helper-failure", error: reason });
      // Back off only when the helper cannot even complete one line (a broken binary, no rights).
      if (this.#childCompletedLine) this.#backoffMs = 0;
      else
        this.#backoffMs = Math.min(
          this.#options.restartBackoffMaxMs,
          Math.max(this.#options.restartBackoffMinMs, this.#backoffMs * 2),
        );
      this.#restartAtMs = Date.now() + this.#backoffMs;
      if (this.#waiting.length > 0) this.#scheduleStart();
    }
  }

  #settle(p: PendingLine, r: NftLineResult): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = undefined;
    p.resolve(r);
  }
}
