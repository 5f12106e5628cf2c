/**
 * The tests' one Log double: records lines in memory (inject it in unit tests of other modules),
 * and for the test runners that run in child processes, also writes every line to stderr.
 */

import type { Log, LogEvent, LogLevelName } from "../../src/log/logger.js";

export interface MemoryLogOptions {
  /** Every line to stderr too, nothing rate-limited (runners in child processes). */
  readonly stderr?: boolean;
  /** Keep the lines in `lines` (default true; a long-running runner says false). */
  readonly keep?: boolean;
}

export interface LoggedLine {
  readonly level: LogLevelName;
  readonly msg: string;
  readonly event: LogEvent | undefined;
  /** Set for `limited()` calls; MemoryLog does not rate-limit. */
  readonly key?: string;
}

export class MemoryLog implements Log {
  readonly lines: LoggedLine[] = [];
  readonly #o: MemoryLogOptions;

  constructor(options: MemoryLogOptions = {}) {
    this.#o = options;
  }

  notice(msg: string, event?: LogEvent): void {
    this.#add({ level: "notice", msg, event });
  }

  warn(msg: string, event?: LogEvent): void {
    this.#add({ level: "warning", msg, event });
  }

  error(msg: string, event?: LogEvent): void {
    this.#add({ level: "err", msg, event });
  }

  limited(key: string, msg: string, event?: LogEvent): void {
    this.#add({ level: "notice", msg, event, key });
  }

  #add(line: LoggedLine): void {
    if (this.#o.keep !== false) this.lines.push(line);
    if (this.#o.stderr === true) process.stderr.write(`${line.msg}\n`);
  }

  /** Just the texts, for `assert.deepEqual`. */
  messages(): string[] {
    return this.lines.map((l) => l.msg);
  }
}
