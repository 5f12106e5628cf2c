/** Policy options for unit tests: 192.0.2.1 ignored, 192.0.2.254 a gateway; override what a test is about. */

import type { PolicyOptions } from "../../src/policy/policy.js";

export function testPolicyOptions(over: Partial<PolicyOptions> = {}): PolicyOptions {
  return {
    blockTcp: 1,
    blockUdp: 1,
    isIgnored: (a) => a === "192.0.2.1",
    neverBlockReason: (a) => (a === "192.0.2.254" ? "it is a default gateway" : undefined),
    isBlocked: () => false,
    maxBlocksPerMinute: 60,
    repeatLogWindowMs: 60_000,
    maxRepeatEntries: 100,
    priorOffences: () => 0,
    banDuration: { baseSec: 0, growth: 1, maxSec: 0 },
    ...over,
  };
}
