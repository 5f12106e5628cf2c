/**
 * KERNEL_TRAP: the kernel blocks that NFLOG never reported, found by comparing the kernel's
 * blocked sets with the daemon's records, become hits the daemon records like any other.
 * Daemon side, beside daemon.ts: a `Hit` is evidence for the pipeline, which a source builds;
 * the responder only lists the sets (responders turn decisions into effects, never evidence).
 */

import type { IpFamily } from "./decode/address.js";
import type { StealthMode } from "./port-set.js";
import type { Hit } from "./vocabulary.js";

/** Classification of a kernel block found in the set but never reported through NFLOG. */
export const UNREPORTED_KERNEL_BLOCK = "Kernel trap block (found in the blocked set)";

/**
 * The hit that records a kernel block found by reconciliation (its probe is unknown: port 0).
 * `mode` is the kernel TCP mode if any, else the UDP one.
 */
export function reconciledHit(
  entry: { readonly address: string; readonly family: IpFamily },
  mode: StealthMode,
  nowMs: number,
): Hit {
  return {
    mode,
    address: entry.address,
    family: entry.family,
    port: 0,
    classification: UNREPORTED_KERNEL_BLOCK,
    ipOptions: false,
    nowMs,
    kernelBlocked: true,
  };
}

/**
 * Blocks the kernel holds that the daemon has not recorded: what a gap in NFLOG delivery
 * (the reader restarted, a kill -9 with the trap armed) left behind. The daemon records each
 * (port 0, the kernel mode) so that none stays unrecorded.
 */
export function unrecordedBlocks<T extends { readonly address: string }>(
  kernelEntries: readonly T[],
  isRecorded: (address: string) => boolean,
): T[] {
  return kernelEntries.filter((e) => !isRecorded(e.address));
}
