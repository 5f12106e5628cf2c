/**
 * `node replay-runner.js replay FILE ...`: what `portsentry replay` does once main.ts
 * dispatches it (parseArgs, then runReplay), for tests that run the command as a process.
 */

import { parseArgs } from "../../src/cli/args.js";
import { runReplay } from "../../src/cli/replay.js";

const parsed = parseArgs(process.argv.slice(2));
if (!parsed.ok || parsed.command.kind !== "replay") {
  process.stderr.write(`replay-runner: ${parsed.ok ? "not a replay command" : parsed.error}\n`);
  process.exitCode = 2;
} else {
  process.exitCode = await runReplay(parsed.command);
}
