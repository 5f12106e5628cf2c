/**
 * The daemon's tunables that are not config keys, in one place, each with the reason for its
 * value (the config keys and their defaults are in src/config/keys.ts). Replay gets the same
 * table sizes, so that a capture replayed offline is judged with the live daemon's bounds.
 */
export const LIMITS = {
  /**
   * Sources whose hits are counted towards SCAN_TRIGGER at once; the least recently seen is
   * evicted past it (and counted). 16 384 × ~100 bytes ≈ 1.6 MiB: a forged flood cannot grow it.
   */
  maxSources: 16_384,
  /** Blocks in force at once; past it a new block is refused (the nft sets hold as many). */
  maxBlocks: 100_000,
  /** "Already blocked", "held back" and "never blocked" lines: at most one per host and window. */
  repeatLogWindowMs: 60_000,
  /** Hosts remembered for that window (an LRU): bounds it under a forged sweep. */
  maxRepeatEntries: 4096,
  /** This host's addresses, gateways and name servers are re-read when older than this. */
  hostFactsMaxAgeMs: 1_000,
  /** A host stays a repeat offender (BLOCK_TIMEOUT_GROWTH) this long after its last block. */
  offenderMemoryMs: 30 * 86_400_000,
  /** The kernel trap's never-trapped sets follow this host's addresses within this time. */
  kernelHostFactsRefreshMs: 2_000,
  /** `nft flush ruleset` removes the trap; the daemon looks for it and puts it back this often. */
  kernelTrapRearmCheckMs: 10_000,
} as const;

/** The part of LIMITS that the stages (and replay) need. */
export interface StageLimits {
  readonly maxSources: number;
  readonly maxBlocks: number;
  readonly repeatLogWindowMs: number;
  readonly maxRepeatEntries: number;
}
