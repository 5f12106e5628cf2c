/**
 * The one builder of a hit's stages (trigger → policy → pipeline), used by the daemon, replay
 * and the warm-up, so that all three judge a hit with the same parts wired the same way; each
 * brings its own table of blocks, reactor and clock.
 */

import type { Config } from "./config/types.js";
import { TriggerTable } from "./detect/trigger.js";
import type { StageLimits } from "./limits.js";
import type { Log } from "./log/logger.js";
import { Pipeline, type PipelineDeps } from "./pipeline.js";
import { Policy } from "./policy/policy.js";

/** What the policy asks about a source; answered by the daemon (or replay, or the warm-up). */
export interface StageQueries {
  /** Never looked at: the ignore list, loopback, this host. */
  readonly isIgnored: (address: string) => boolean;
  /** Why a source must never be blocked though its probes are logged (gateway, name server). */
  readonly neverBlockReason: (address: string) => string | undefined;
  readonly isBlocked: (address: string) => boolean;
  /** Blocks the host had before (read only; the pipeline counts a new one once it is made). */
  readonly priorOffences: (address: string) => number;
}

export type StageConfig = Pick<
  Config,
  | "scanTrigger"
  | "triggerWindowSec"
  | "blockTcp"
  | "blockUdp"
  | "maxBlocksPerMinute"
  | "probationSec"
  | "killFirewall"
  | "blockTimeoutSec"
  | "blockTimeoutGrowth"
  | "blockTimeoutMaxSec"
>;

export interface StageOptions extends Omit<PipelineDeps, "trigger" | "policy" | "maxBlocksPerMinute"> {
  readonly config: StageConfig;
  readonly limits: Pick<
    StageLimits,
    "maxSources" | "repeatLogWindowMs" | "maxRepeatEntries" | "probationCapacity" | "probationMemoryMs"
  >;
  readonly queries: StageQueries;
  readonly log: Log;
}

export interface Stages {
  readonly trigger: TriggerTable;
  readonly policy: Policy;
  readonly pipeline: Pipeline;
}

export function buildStages(o: StageOptions): Stages {
  const { config, limits, queries } = o;
  const trigger = new TriggerTable({
    scanTrigger: config.scanTrigger,
    maxSources: limits.maxSources,
    windowMs: config.triggerWindowSec * 1000,
  });
  const policy = new Policy({
    blockTcp: config.blockTcp,
    blockUdp: config.blockUdp,
    isIgnored: queries.isIgnored,
    neverBlockReason: queries.neverBlockReason,
    isBlocked: queries.isBlocked,
    priorOffences: queries.priorOffences,
    banDuration: {
      baseSec: config.blockTimeoutSec,
      growth: config.blockTimeoutGrowth,
      maxSec: config.blockTimeoutMaxSec,
    },
    maxBlocksPerMinute: config.maxBlocksPerMinute,
    repeatLogWindowMs: limits.repeatLogWindowMs,
    maxRepeatEntries: limits.maxRepeatEntries,
    // A probation is a firewall ban: without KILL_FIREWALL there is nothing to apply it with.
    probationSec: config.killFirewall === "none" ? 0 : config.probationSec,
    probationCapacity: limits.probationCapacity,
    probationMemoryMs: limits.probationMemoryMs,
  });
  const pipeline = new Pipeline({ ...o, trigger, policy, maxBlocksPerMinute: config.maxBlocksPerMinute });
  return { trigger, policy, pipeline };
}
