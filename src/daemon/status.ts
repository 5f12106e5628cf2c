/** `portsentry status`: the daemon's modes, armed sensors, watched ports and counters. */

import type { Config } from "../config/types.js";
import { compactPorts, type StatusReport } from "../control/responses.js";
import type { Logger } from "../log/logger.js";
import type { CaptureSensor } from "../sensors/capture-sensor.js";
import type { CatchUp } from "../state/catch-up.js";
import { VERSION } from "../version.js";
import type { Mode } from "../vocabulary.js";
import type { BlockKeeper } from "./blocking.js";
import type { KernelTrapWiring } from "./kernel-trap.js";
import type { OpenedSensors } from "./sensors.js";

export interface StatusSources {
  readonly config: Config;
  readonly modes: readonly Mode[];
  readonly log: Logger;
  readonly keeper: BlockKeeper;
  readonly sensors: OpenedSensors;
  readonly kernel: KernelTrapWiring;
  readonly catchUp: CatchUp;
  readonly startedAtMs: number;
  readonly wallClockMs: () => number;
}

export function statusReport(s: StatusSources): StatusReport {
  const { keeper } = s;
  const p = keeper.stages.pipeline.counters;
  const trigger = keeper.stages.trigger.stats();
  const reactor = keeper.reactor.stats;
  const logStats = s.log.stats();
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: new Date(s.startedAtMs).toISOString(),
    uptimeSec: Math.floor((s.wallClockMs() - s.startedAtMs) / 1000),
    configFile: s.config.file,
    modes: s.modes,
    sensors: s.sensors.armed.map((a) => ({
      mode: a.mode,
      armed: true,
      portCount: a.ports.length,
      ports: compactPorts(a.ports),
    })),
    blockedHosts: keeper.registry.size,
    counters: {
      hits: p.hits,
      ignored: p.ignored,
      detections: p.detections,
      blocks: reactor.blocks,
      expiries: reactor.lifted,
      heldBack: p.heldBack,
      evictions: trigger.evictions,
      trackedSources: trigger.tracked,
      errors: reactor.failures + p.reactionErrors,
      logSuppressed: logStats.rateLimit.suppressed,
      syslogDropped: logStats.syslog?.dropped ?? 0,
      ...s.catchUp.stats(),
      ...captureCounters(s.sensors.capture),
      ...(s.config.probationSec > 0 ? keeper.probationCounters() : {}),
      ...s.kernel.counters(),
    },
  };
}

/** The capture's counters: frames, kernel drops, and drops by reason (`dropVerifyBacklog`). */
function captureCounters(capture: CaptureSensor | undefined): Record<string, number> {
  if (capture === undefined) return {};
  const st = capture.stats();
  const out: Record<string, number> = {
    frames: st.frames,
    decoded: st.decoded,
    candidates: st.candidates,
    replies: st.replies,
    captureHits: st.hits,
    kernelDrops: st.kernelDropped,
    listenerReads: st.listenerReads,
    ownFlowsEvicted: st.ownFlowsEvicted,
    samePortRepeats: st.samePortRepeats,
    captureRestarts: st.restarts,
  };
  for (const [reason, n] of Object.entries(st.drops)) {
    out[`drop${reason.replace(/(^|-)([a-z])/g, (_, _d: string, c: string) => c.toUpperCase())}`] = n;
  }
  return out;
}
