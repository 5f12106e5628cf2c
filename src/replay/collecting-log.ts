/** What replay's pipeline logs for one hit, collected to be reported with it. */

import type { Log, LogEvent, LogLevelName } from "../log/logger.js";

/** Collects what the pipeline logs for one hit. */
export class CollectingLog implements Log {
  readonly lines: { level: LogLevelName; message: string }[] = [];
  notice(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
  warn(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "warning", message });
  }
  error(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "err", message });
  }
  /** Live, the logger holds back repeats per source; replay shows every line. */
  limited(_key: string, message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
}
