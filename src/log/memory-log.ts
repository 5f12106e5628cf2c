/** A Log that records lines in memory: inject it in unit tests of other modules. */

import type { Log, LogEvent, LogLevelName } from "./logger.js";

export interface LoggedLine {
  readonly level: LogLevelName;
  readonly msg: string;
  readonly event: LogEvent | undefined;
  /** Set for `limited()` calls; MemoryLog does not rate-limit. */
  readonly key?: string;
}

export class MemoryLog implements Log {
  readonly lines: LoggedLine[] = [];

  notice(msg: string, event?: LogEvent): void {
    this.lines.push({ level: "notice", msg, event });
  }

  warn(msg: string, event?: LogEvent): void {
    this.lines.push({ level: "warning", msg, event });
  }

  error(msg: string, event?: LogEvent): void {
    this.lines.push({ level: "err", msg, event });
  }

  limited(key: string, msg: string, event?: LogEvent): void {
    this.lines.push({ level: "notice", msg, event, key });
  }

  /** Just the texts, for `assert.deepEqual`. */
  messages(): string[] {
    return this.lines.map((l) => l.msg);
  }
}
