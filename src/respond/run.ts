/**
 * Runs one external program: argv array, no shell, a hard timeout, and a result instead of an
 * exception. Shared by the firewall blockers and the KILL_ROUTE / KILL_RUN_CMD runner.
 */

import { execFile } from "node:child_process";

export interface RunOptions {
  /** The child is killed (SIGKILL) after this long and the result says `timedOut`. */
  readonly timeoutMs: number;
  /** Written to the child's stdin, which is then closed; without it stdin is closed at once. */
  readonly input?: string;
  /** Cap on captured stdout and stderr each; past it the child is killed. Default 16 MiB. */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit status; null when the child was killed by a signal or never started. */
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES, ...). */
  readonly spawnError: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const MAX_REASON_CHARS = 300;

/** Runs `argv[0]` with `argv.slice(1)`; never throws, never rejects. */
export function run(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const startMs = performance.now();
  const file = argv[0];
  if (file === undefined || file === "") {
    return Promise.resolve(failed("empty command line", startMs));
  }
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let child: ReturnType<typeof execFile>;
    try {
      child = execFile(
        file,
        argv.slice(1),
        {
          encoding: "utf8",
          maxBuffer: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
          windowsHide: true,
          killSignal: "SIGKILL",
        },
        (error, stdout, stderr) => {
          const elapsedMs = performance.now() - startMs;
          if (error === null) {
            finish({ code: 0, signal: null, timedOut, spawnError: undefined, stdout, stderr, elapsedMs });
            return;
          }
          // A number `code` is the exit status; a string one (ENOENT, ERR_CHILD_PROCESS_...) is ours.
          const code = typeof error.code === "number" ? error.code : null;
          const spawnError =
            typeof error.code === "string" && error.code !== "ERR_CHILD_PROCESS_STDIO_MAXBUFFER"
              ? `${error.code}: ${error.message}`
              : error.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER"
                ? "output too large"
                : undefined;
          finish({
            code,
            signal: error.signal ?? null,
            timedOut,
            spawnError,
            stdout,
            stderr,
            elapsedMs,
          });
        },
      );
    } catch (e) {
      // execFile throws synchronously only for invalid arguments (e.g. a NUL byte).
      finish(failed(e instanceof Error ? e.message : String(e), startMs));
      return;
    }
    timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    // EPIPE when the child exits before reading its input is reported through the exit status.
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input ?? "");
  });
}

function failed(reason: string, startMs: number): RunResult {
  return {
    code: null,
    signal: null,
    timedOut: false,
    spawnError: reason,
    stdout: "",
    stderr: "",
    elapsedMs: performance.now() - startMs,
  };
}

/** True when the program ran and exited with status 0. */
export function succeeded(r: RunResult): boolean {
  return r.code === 0 && !r.timedOut && r.spawnError === undefined;
}

/** One short line for logs: what ran and why it failed. */
export function describeFailure(argv: readonly string[], r: RunResult): string {
  const what = argv.join(" ");
  let why: string;
  if (r.spawnError !== undefined) why = `could not run: ${r.spawnError}`;
  else if (r.timedOut) why = `timed out after ${Math.round(r.elapsedMs)} ms`;
  else if (r.code === null) why = `killed by ${r.signal ?? "a signal"}`;
  else why = `exit status ${r.code}`;
  const detail = r.stderr.trim().replace(/\s+/g, " ");
  const text = detail === "" ? `${what}: ${why}` : `${what}: ${why}: ${detail}`;
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}
