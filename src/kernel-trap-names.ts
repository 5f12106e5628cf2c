/**
 * KERNEL_TRAP: the NFLOG `log prefix` that names the mode of the trap rule that dropped a
 * probe. The responder writes it into its nft rules (respond/kernel-trap-script.ts) and the
 * sensor reads it back from each NFLOG message (sensors/kernel-trap-sensor.ts); kept here so that
 * neither stage imports the other.
 */

import type { StealthMode } from "./port-set.js";

const PREFIX_TAG = "portsentry:";
/** A probe the trap let through past its block limit, reported for the daemon to judge. */
const OVER_LIMIT_TAG = "portsentry:over:";

/** A probe from a source the trap holds on probation (PROBATION_TIMEOUT): a repeat offence. */
const AGAIN_TAG = "portsentry:again:";

/**
 * A probe the kernel only counted and reported (a log-only mode, BLOCK_*="0"): nothing was
 * dropped or blocked, the daemon judges and logs it.
 */
const SEEN_TAG = "portsentry:seen:";

/**
 * What a trap report says: trapped (blocked or put on probation), past the limit, a repeat, or
 * seen by a log-only mode.
 */
export type TrapReport = "trapped" | "over-limit" | "again" | "seen";

/** Longer tags first: each starts with PREFIX_TAG. */
const TAGS: readonly (readonly [TrapReport, string])[] = [
  ["over-limit", OVER_LIMIT_TAG],
  ["again", AGAIN_TAG],
  ["seen", SEEN_TAG],
  ["trapped", PREFIX_TAG],
];

/** `log prefix` of the rule that trapped a probe of `mode`. */
export function trapPrefix(mode: StealthMode): string {
  return `${PREFIX_TAG}${mode}`;
}

/** `log prefix` of the rule that reports a probe of `mode` past the block limit (not blocked). */
export function overLimitPrefix(mode: StealthMode): string {
  return `${OVER_LIMIT_TAG}${mode}`;
}

/** `log prefix` of the rule that reports a probe of `mode` from a source on probation. */
export function againPrefix(mode: StealthMode): string {
  return `${AGAIN_TAG}${mode}`;
}

/** `log prefix` of the rule that reports a probe of a log-only `mode` (nothing dropped). */
export function seenPrefix(mode: StealthMode): string {
  return `${SEEN_TAG}${mode}`;
}

/** The mode whose trap rule logged `prefix`, or undefined for someone else's rule. */
export function modeOfPrefix(prefix: string): StealthMode | undefined {
  return trapOfPrefix(prefix)?.mode;
}

/** The mode and kind of a trap report. */
export function trapOfPrefix(
  prefix: string,
): { readonly mode: StealthMode; readonly report: TrapReport } | undefined {
  const tagged = TAGS.find(([, tag]) => prefix.startsWith(tag));
  if (tagged === undefined) return undefined;
  const [report, tag] = tagged;
  const mode = prefix.slice(tag.length);
  if (mode === "stcp" || mode === "sudp" || mode === "atcp" || mode === "audp") return { mode, report };
  return undefined;
}
