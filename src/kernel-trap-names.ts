/**
 * KERNEL_TRAP: the NFLOG `log prefix` that names the mode of the trap rule that dropped a
 * probe. The responder writes it into its nft rules (respond/kernel-trap-script.ts) and the
 * sensor reads it back from each NFLOG message (sensors/kernel-trap-sensor.ts); kept here so that
 * neither stage imports the other.
 */

import type { StealthMode } from "./port-set.js";

const PREFIX_TAG = "portsentry:";

/** `log prefix` of the rule that trapped a probe of `mode`. */
export function trapPrefix(mode: StealthMode): string {
  return `${PREFIX_TAG}${mode}`;
}

/** The mode whose trap rule logged `prefix`, or undefined for someone else's rule. */
export function modeOfPrefix(prefix: string): StealthMode | undefined {
  if (!prefix.startsWith(PREFIX_TAG)) return undefined;
  const mode = prefix.slice(PREFIX_TAG.length);
  return mode === "stcp" || mode === "sudp" || mode === "atcp" || mode === "audp" ? mode : undefined;
}
