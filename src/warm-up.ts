/**
 * Runs synthetic hits through a scratch copy of the stages (detect, policy, the 1.2 log lines
 * and their syslog, stderr and JSON formatting) before the sensors arm, so that a fresh
 * daemon's first real probe meets compiled code: V8 compiles each function at its first call,
 * about a millisecond on this path. Touches nothing of the daemon's: its own tables, a log
 * that writes nowhere, a reactor that does nothing. The daemon's own policy queries (ignore
 * list, protected hosts, blocked set) are asked too: they only read.
 */

import { Writable } from "node:stream";
import { Logger } from "./log/logger.js";
import { formatRfc3164, type SyslogSink } from "./log/syslog.js";
import { buildStages, type StageQueries } from "./stages.js";
import type { BlockLevel, Hit, Mode } from "./vocabulary.js";

export interface WarmUpOptions {
  readonly modes: readonly Mode[];
  readonly scanTrigger: number;
  readonly blockTcp: BlockLevel;
  readonly blockUdp: BlockLevel;
  /** The daemon's own questions; they are asked too (they only read), so they are warm. */
  readonly queries?: StageQueries;
}

/** Classifications a probe can carry, so that each message's formatting is compiled. */
const TCP_CLASSES = ["TCP SYN/Normal scan", "TCP FIN scan", "TCP NULL scan", "TCP XMAS scan"] as const;

/** Returns how many synthetic hits went through the scratch pipeline. */
export function warmUpPipeline(o: WarmUpOptions, rounds = 3): number {
  const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });
  const syslog: SyslogSink = {
    send: (message) => void formatRfc3164(message, { priority: 13, date: new Date(), ident: "w", pid: 1 }),
    stats: () => ({ sent: 0, dropped: 0 }),
    close: () => {},
  };
  const log = new Logger({ syslog, stderr: nowhere, events: nowhere });
  const { pipeline } = buildStages({
    config: {
      ...o,
      triggerWindowSec: 60,
      maxBlocksPerMinute: 0,
      probationSec: 0,
      killFirewall: "none",
      blockTimeoutSec: 3600,
      blockTimeoutGrowth: 2,
      blockTimeoutMaxSec: 0,
    },
    limits: {
      maxSources: 64,
      repeatLogWindowMs: 60_000,
      maxRepeatEntries: 64,
      probationCapacity: 64,
      probationMemoryMs: 60_000,
    },
    // Asked, but never allowed to change the scratch run's course.
    queries: {
      isIgnored: (a) => {
        o.queries?.isIgnored(a);
        return false;
      },
      neverBlockReason: (a) => {
        o.queries?.neverBlockReason(a);
        return undefined;
      },
      isBlocked: (a) => {
        o.queries?.isBlocked(a);
        return false;
      },
      priorOffences: (a) => {
        o.queries?.priorOffences(a);
        return 0;
      },
    },
    log,
    registry: { full: false, claim: () => false },
    reactor: { respond: async () => {} },
    recordOffence: () => {},
    wallClockMs: Date.now,
  });
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    for (const mode of o.modes) {
      const classes =
        mode === "tcp" || mode === "udp" ? ["Connect"] : mode.endsWith("tcp") ? TCP_CLASSES : ["UDP scan"];
      for (const classification of classes) {
        n++;
        const hit: Hit = {
          mode,
          address: n % 2 === 0 ? `192.0.2.${n % 250}` : `2001:db8::${n.toString(16)}`,
          family: n % 2 === 0 ? 4 : 6,
          port: 1 + (n % 1024),
          classification,
          ipOptions: n % 5 === 0,
          nowMs: n,
        };
        pipeline.onHit(hit);
      }
    }
  }
  return pipeline.counters.hits;
}
