/** KILL_ROUTE and KILL_RUN_CMD: an operator's command template run for one target (spec §6). */

import type { BlockTarget } from "./responder.js";
import { describeFailure, run, succeeded } from "./run.js";
import { commandArgv, expandMacros } from "./template.js";

export const COMMAND_TIMEOUT_MS = 30_000;

export type CommandOutcome =
  | { readonly ok: true; readonly command: string }
  | { readonly ok: false; readonly command: string; readonly error: string };

/** Expands the macros, runs the command (no shell unless the template uses shell syntax), checks its exit. */
export async function runCommandTemplate(
  template: string,
  target: BlockTarget,
  timeoutMs = COMMAND_TIMEOUT_MS,
): Promise<CommandOutcome> {
  let command: string;
  try {
    command = expandMacros(template, target);
  } catch (err) {
    return { ok: false, command: template, error: (err as Error).message };
  }
  const argv = commandArgv(command);
  const result = await run(argv, { timeoutMs });
  return succeeded(result)
    ? { ok: true, command }
    : { ok: false, command, error: describeFailure(argv, result) };
}
