/**
 * The daemon's own iptables/ip6tables chain in `filter`, jumped to from INPUT: shared by the
 * iptables and ipset blockers. Every call is one `execFile` (argv only, `-w` waits for the
 * xtables lock), checked by exit status; "already there" and "already gone" are not errors.
 */

import type { ResponderResult } from "./responder.js";
import { describeFailure, type RunResult, run, succeeded } from "./run.js";

/** An iptables-family tool: argv prefix (`["iptables"]`, `["ip", "netns", "exec", NS, "ip6tables"]`). */
export interface XtablesTool {
  readonly argv: readonly string[];
  readonly timeoutMs: number;
}

/** Seconds iptables itself waits for the xtables lock; below our process timeout. */
const LOCK_WAIT_SEC = "5";
/** Bound on repeated deletes of one rule (duplicates left by someone else). */
const MAX_DELETES = 16;

/** iptables chain names: at most 28 characters; we accept a plain subset. */
export function isValidChainName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_-]{0,27}$/.test(name);
}

export function xt(tool: XtablesTool, args: readonly string[]): Promise<RunResult> {
  return run([...tool.argv, "-w", LOCK_WAIT_SEC, ...args], { timeoutMs: tool.timeoutMs });
}

function failure(tool: XtablesTool, args: readonly string[], r: RunResult): ResponderResult {
  return { ok: false, error: describeFailure([...tool.argv, ...args], r) };
}

/**
 * "No such rule / chain": status 1, or 2 when the missing chain is a jump target
 * (`Chain 'PORTSENTRY' does not exist`). Anything else is a real failure.
 */
function isAbsent(r: RunResult): boolean {
  return (r.code === 1 || r.code === 2) && /Bad rule|No chain|does not exist|No such file/i.test(r.stderr);
}

/** Creates the chain and the INPUT jump to it, each only if missing. */
export async function ensureChain(tool: XtablesTool, chain: string): Promise<ResponderResult> {
  const created = await xt(tool, ["-N", chain]);
  if (!succeeded(created) && !(created.code === 1 && /already exists/i.test(created.stderr))) {
    return failure(tool, ["-N", chain], created);
  }
  return ensureRule(tool, "INPUT", ["-j", chain], "insert");
}

/** Adds `rule` to `chain` unless an identical rule is there (`-C` before `-A`/`-I`). */
export async function ensureRule(
  tool: XtablesTool,
  chain: string,
  rule: readonly string[],
  where: "append" | "insert" = "append",
): Promise<ResponderResult> {
  const check = await xt(tool, ["-C", chain, ...rule]);
  if (succeeded(check)) return { ok: true };
  if (!isAbsent(check)) return failure(tool, ["-C", chain, ...rule], check);
  const args = where === "insert" ? ["-I", chain, "1", ...rule] : ["-A", chain, ...rule];
  const added = await xt(tool, args);
  return succeeded(added) ? { ok: true } : failure(tool, args, added);
}

/** Deletes every copy of `rule` from `chain`; a rule or chain that is not there is fine. */
export async function deleteRule(
  tool: XtablesTool,
  chain: string,
  rule: readonly string[],
): Promise<ResponderResult> {
  const args = ["-D", chain, ...rule];
  for (let i = 0; i < MAX_DELETES; i++) {
    const r = await xt(tool, args);
    if (isAbsent(r)) return { ok: true };
    if (!succeeded(r)) return failure(tool, args, r);
  }
  return { ok: true };
}

/** Removes the INPUT jump, then empties and deletes the chain; all of it may already be gone. */
export async function removeChain(tool: XtablesTool, chain: string): Promise<ResponderResult> {
  const jump = await deleteRule(tool, "INPUT", ["-j", chain]);
  if (!jump.ok) return jump;
  for (const args of [
    ["-F", chain],
    ["-X", chain],
  ]) {
    const r = await xt(tool, args);
    if (!succeeded(r) && !isAbsent(r)) return failure(tool, args, r);
  }
  return { ok: true };
}

/** Rules of `chain` in `-S` form (`-A CHAIN ...`), or the failure; a missing chain lists nothing. */
export async function listRules(
  tool: XtablesTool,
  chain: string,
): Promise<{ ok: true; rules: string[] } | { ok: false; error: string }> {
  const r = await xt(tool, ["-S", chain]);
  if (succeeded(r)) return { ok: true, rules: r.stdout.split("\n").filter((l) => l.startsWith("-A ")) };
  if (isAbsent(r) || /incompatible/.test(r.stderr)) return { ok: true, rules: [] };
  return { ok: false, error: describeFailure([...tool.argv, "-S", chain], r) };
}
