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

/** `log prefix` of the rule that trapped a probe of `mode`. */
export function trapPrefix(mode: StealthMode): string {
  return `${PREFIX_TAG}${mode}`;
}

/** `log prefix` of the rule that reports a probe of `mode` past the block limit (not blocked). */
export function overLimitPrefix(mode: StealthMode): string {
  return `${OVER_LIMIT_TAG}${mode}`;
}

/** The mode whose trap rule logged `prefix`, or undefined for someone else's rule. */
export function modeOfPrefix(prefix: string): StealthMode | undefined {
  return trapOfPrefix(prefix)?.mode;
}

/** The mode and kind of a trap report: blocked by the kernel, or let through past its limit. */
export function trapOfPrefix(
  prefix: string,
): { readonly mode: StealthMode; readonly overLimit: boolean } | undefined {
  const overLimit = prefix.startsWith(OVER_LIMIT_TAG);
  if (!overLimit && !prefix.startsWith(PREFIX_TAG)) return undefined;
  const mode = prefix.slice((overLimit ? OVER_LIMIT_TAG : PREFIX_TAG).length);
  if (mode === "stcp" || mode === "sudp" || mode === "atcp" || mode === "audp") return { mode, overLimit };
  return undefined;
}
