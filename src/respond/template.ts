/**
 * `$TARGET$ $PORT$ $MODE$` in KILL_ROUTE, KILL_HOSTS_DENY and KILL_RUN_CMD (spec §6).
 * Only validated values are ever substituted: a canonical IP address (optionally in brackets),
 * a port number and one of the six mode names. No byte an attacker chose can reach a shell,
 * because none of these can contain a shell metacharacter; `expandMacros` re-checks that.
 */

import type { Mode } from "../vocabulary.js";

export interface MacroValues {
  readonly address: string;
  readonly port: number;
  readonly mode: Mode;
}

const SAFE_ADDRESS = /^\[?[0-9a-fA-F.:]{2,45}\]?$/;
const MODES: ReadonlySet<string> = new Set(["tcp", "udp", "stcp", "sudp", "atcp", "audp"]);

export function expandMacros(template: string, v: MacroValues): string {
  if (!SAFE_ADDRESS.test(v.address)) throw new Error(`refusing to substitute unvalidated address`);
  if (!Number.isInteger(v.port) || v.port < 0 || v.port > 65535) throw new Error(`bad port ${v.port}`);
  if (!MODES.has(v.mode)) throw new Error(`bad mode`);
  return template
    .replaceAll("$TARGET$", v.address)
    .replaceAll("$PORT$", String(v.port))
    .replaceAll("$MODE$", v.mode);
}

const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]#~=%{}\n]/;

/**
 * The argv for an expanded command. A plain command line (the usual `/sbin/iptables -I INPUT
 * -s 192.0.2.7 -j DROP`) is split on blanks and run without a shell. A line that uses shell
 * syntax (1.2's `echo '...' | /sbin/ipf -f -`) runs under `/bin/sh -c` as it did in 1.2; that
 * is safe because only the validated values above were substituted into the operator's text.
 */
export function commandArgv(expanded: string): readonly string[] {
  if (SHELL_SYNTAX.test(expanded)) return ["/bin/sh", "-c", expanded];
  return expanded.split(/[ \t]+/).filter((w) => w.length > 0);
}
