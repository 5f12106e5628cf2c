/** A Log for the test runners (child processes): every line to stderr, nothing rate-limited. */

import type { Log, LogEvent } from "../../src/log/logger.js";

export class StderrLog implements Log {
  notice(msg: string, _event?: LogEvent): void {
    process.stderr.write(`${msg}\n`);
  }
  warn(msg: string, _event?: LogEvent): void {
    process.stderr.write(`${msg}\n`);
  }
  error(msg: string, _event?: LogEvent): void {
    process.stderr.write(`${msg}\n`);
  }
  limited(_key: string, msg: string, _event?: LogEvent): void {
    process.stderr.write(`${msg}\n`);
  }
}
