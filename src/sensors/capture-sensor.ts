/**
 * The capture sensor: the stealth and advanced modes (`-stcp -sudp -atcp -audp`, spec §3), probes
 * seen by libpcap instead of bound ports. One TCP mode and/or one UDP mode share one capture.
 *
 * Its parts, each with one job: the captures, one generation at a time (capture-generations.ts);
 * the listener gate, which holds a probe the kernel did not answer until a listener snapshot
 * begun after it says the port is unused (listener-gate.ts); the 32-byte record between the
 * engine and here (probe-record.ts); the 1.2 log lines (capture-lines.ts). This file turns a
 * record into a Hit, counts, and is the face the daemon sees.
 */

import { performance } from "node:perf_hooks";
import type { Config } from "../config/types.js";
import { OwnFlows } from "../detect/own-flows.js";
import { probeHit } from "../detect/probe-rules.js";
import { RepeatedPorts } from "../detect/repeated-ports.js";
import { CAPTURE_LIMITS, OWN_FLOW_LIMITS, REPEAT_LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import { candidatePorts, isCaptureMode, type StealthMode } from "../port-set.js";
import type { Hit, Mode, PortBitmap } from "../vocabulary.js";
import { CaptureGenerations, type Generation, type GenerationOptions } from "./capture-generations.js";
import { type CaptureModes, logStartupLines, logWatchChanges } from "./capture-lines.js";
import type { InterfaceStats } from "./capture-plan.js";
import { ListenerGate, type WaitingBatch } from "./listener-gate.js";
import { ListenerTable, type ListenProto } from "./listening.js";
import {
  RECORD_BYTES,
  recordAnswered,
  recordDstPort,
  recordFamily,
  recordIface,
  recordIpOptions,
  recordProtocol,
  recordSource,
  recordsView,
  recordTcpFlags,
  recordTsUs,
} from "./probe-record.js";

export interface SensorClocks {
  /** Monotonic milliseconds: `Hit.nowMs`, rate bounds. */
  readonly monoMs: () => number;
  /** Wall-clock milliseconds (fractional): compared with kernel capture times for latency. */
  readonly wallMs: () => number;
}

/** Read once: the getter calls into the runtime each time, and the value never changes. */
const TIME_ORIGIN_MS = performance.timeOrigin;

export const DEFAULT_CLOCKS: SensorClocks = {
  monoMs: () => performance.now(),
  wallMs: () => TIME_ORIGIN_MS + performance.now(),
};

export interface CaptureSensorOptions extends GenerationOptions {
  /** Records waiting for a listener snapshot; beyond it batches are dropped (default 262 144). */
  readonly maxPendingRecords?: number;
  /** Listener snapshot rate bound (default 10 ms; past a 50 ms burst, 20 × cost). */
  readonly listenerMinIntervalMs?: number;
  readonly listenerCostFactor?: number;
  /** For tests: replaces reading /proc/net. */
  readonly readListeners?: (proto: ListenProto) => PortBitmap;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

export interface CaptureSensorStats {
  /** Current capture generation (1 after start-up). */
  readonly generation: number;
  /** Captures re-opened after one failed. */
  readonly restarts: number;
  /** Kernel counters of the current generation's captures. */
  readonly interfaces: readonly InterfaceStats[];
  /** Kernel (ring) drops over all generations. */
  readonly kernelDropped: number;
  readonly frames: number;
  readonly decoded: number;
  readonly candidates: number;
  /** Probes whose fate the kernel's own RST, SYN+ACK or ICMP port unreachable told (no /proc read). */
  readonly replies: number;
  readonly hits: number;
  /** By reason: decoder statuses, engine checks, and here: listening, duplicate, backlog. */
  readonly drops: Readonly<Record<string, number>>;
  readonly listenerReads: number;
  /** Flows this host started, forgotten early because their part of the table was full. */
  readonly ownFlowsEvicted: number;
  /** Hits that repeat their source's previous port (a noisy neighbour, not a port walk). */
  readonly samePortRepeats: number;
  /** Kernel capture time → onHit, over the last 4096 hits. */
  readonly latency: LatencySummary;
}

export interface CaptureSensor {
  readonly modes: readonly StealthMode[];
  /** Interfaces captured on right now. */
  interfaces(): readonly string[];
  stats(): CaptureSensorStats;
  /** Closes the captures (the kernel releases them at once); pending candidates are dropped. */
  close(): Promise<void>;
}

export type OpenCaptureSensorResult =
  | { readonly ok: true; readonly sensor: CaptureSensor }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

const { maxPendingRecords: MAX_PENDING_RECORDS, latencySamples: LATENCY_SAMPLES } = CAPTURE_LIMITS;

/** Split `modes` into the one TCP and the one UDP capture mode, or undefined if that is not possible. */
export function captureModes(
  modes: readonly Mode[],
): { all: StealthMode[]; modes: CaptureModes } | undefined {
  const all = modes.filter(isCaptureMode);
  const tcp = all.filter((m) => m === "stcp" || m === "atcp");
  const udp = all.filter((m) => m === "sudp" || m === "audp");
  if (all.length === 0 || tcp.length > 1 || udp.length > 1) return undefined;
  return { all, modes: { tcp: tcp[0], udp: udp[0] } };
}

/**
 * Opens the capture for the stealth/advanced modes among `modes` (at most one TCP and one UDP;
 * other modes are ignored). Logs the 1.2 start-up lines, resolves when the captures are armed.
 * `interfaces` is the `-i` list (empty: every interface that is up but loopback).
 */
export async function openCaptureSensor(
  modes: readonly Mode[],
  config: Config,
  interfaces: readonly string[],
  onHit: (hit: Hit) => void,
  log: Log,
  clocks: SensorClocks = DEFAULT_CLOCKS,
  options: CaptureSensorOptions = {},
): Promise<OpenCaptureSensorResult> {
  const split = captureModes(modes);
  if (split === undefined) {
    return { ok: false, error: "need one TCP and/or one UDP stealth or advanced mode", permission: false };
  }
  const sensor = new LiveCaptureSensor(
    split.all,
    split.modes,
    config,
    interfaces,
    onHit,
    log,
    clocks,
    options,
  );
  const started = sensor.start();
  return started.ok ? { ok: true, sensor } : started;
}

/** Both clocks, read once per batch: its records are handled within microseconds. */
interface BatchClock {
  readonly monoMs: number;
  readonly wallUs: number;
}

/** The live sensor; capture-offline.ts runs it without a capture (warm-up, tests). */
export class LiveCaptureSensor implements CaptureSensor {
  readonly modes: readonly StealthMode[];
  readonly #modes: CaptureModes;
  readonly #config: Config;
  readonly #onHit: (hit: Hit) => void;
  readonly #log: Log;
  readonly #clocks: SensorClocks;
  readonly #candidates: { readonly tcp: PortBitmap | undefined; readonly udp: PortBitmap | undefined };
  readonly #listeners: ListenerTable;
  readonly #gate: ListenerGate<Generation>;
  readonly #generations: CaptureGenerations;
  /** The flows this host started, shared by every generation's engine. */
  readonly #flows = new OwnFlows(OWN_FLOW_LIMITS);
  readonly #graceMs: number;
  readonly #repeats = new RepeatedPorts(REPEAT_LIMITS.maxSources);
  #closed = false;

  #hits = 0;
  readonly #drops = {
    listening: 0,
    "listen-grace": 0,
    duplicate: 0,
    "hit-handler-error": 0,
    "bad-record": 0,
  };
  readonly #latencyUs = new Float64Array(LATENCY_SAMPLES);
  #latencyCount = 0;

  constructor(
    all: readonly StealthMode[],
    modes: CaptureModes,
    config: Config,
    requested: readonly string[],
    onHit: (hit: Hit) => void,
    log: Log,
    clocks: SensorClocks,
    options: CaptureSensorOptions,
  ) {
    this.modes = all;
    this.#modes = modes;
    this.#config = config;
    this.#onHit = onHit;
    this.#log = log;
    this.#clocks = clocks;
    this.#graceMs = config.listenGraceSec * 1000;
    this.#candidates = {
      tcp: modes.tcp && candidatePorts(modes.tcp, config),
      udp: modes.udp && candidatePorts(modes.udp, config),
    };
    this.#listeners = new ListenerTable({
      monoMs: clocks.monoMs,
      minIntervalMs: options.listenerMinIntervalMs,
      costFactor: options.listenerCostFactor,
      read: options.readListeners,
    });
    this.#gate = new ListenerGate<Generation>(
      this.#listeners,
      clocks.monoMs,
      options.maxPendingRecords ?? MAX_PENDING_RECORDS,
      (batch) => this.#emitBatch(batch),
    );
    this.#generations = new CaptureGenerations({
      requested,
      candidates: this.#candidates,
      listeners: this.#listeners,
      flows: this.#flows,
      ackScans: config.detectAckScans,
      log,
      monoMs: clocks.monoMs,
      options,
      onRecords: (gen, b, n) => this.onRecords(gen, b, n),
      onReleased: (gen) => {
        for (const batch of gen.held) this.#gate.push(batch);
        gen.held.length = 0;
      },
      onWatchChange: (before, after) => logWatchChanges(this.#log, this.#modes, before, after),
    });
  }

  start(): { ok: true } | { ok: false; error: string; permission: boolean } {
    if (this.#modes.tcp) this.#listeners.refreshSync("tcp");
    if (this.#modes.udp) this.#listeners.refreshSync("udp");
    logStartupLines(this.#log, this.#config, this.#modes, this.#candidates, this.#listeners);
    return this.#generations.start();
  }

  interfaces(): readonly string[] {
    return this.#generations.current?.opened ?? [];
  }

  /**
   * A batch from an engine (`b` is the engine's buffer: what waits is copied). Records the
   * kernel already answered with RST or ICMP port unreachable (no listener when the probe came)
   * are emitted at once; the others wait in order at the listener gate. So a few unanswered
   * probes in a flood never hold back the answered ones (hits of different probes may come out
   * of arrival order; each one's counting does not depend on it).
   */
  onRecords(gen: Generation, b: Uint8Array, n: number): void {
    if (this.#closed) return;
    if (n <= 0 || b.length < n * RECORD_BYTES) {
      this.#drops["bad-record"]++;
      return;
    }
    const view = recordsView(b, n);
    const clock = this.#readClocks();
    let waiting = 0;
    for (let i = 0; i < n; i++) {
      const at = i * RECORD_BYTES;
      // Tracked on arrival: at the switch-over this is what the generation has delivered.
      const iface = gen.plan.interfaces[recordIface(view, at)] ?? "";
      const tsUs = recordTsUs(view, at);
      if (tsUs > (gen.lastTsUs.get(iface) ?? 0)) gen.lastTsUs.set(iface, tsUs);
      if (gen.released && recordAnswered(view, at)) this.#emitRecord(gen, view, at, clock);
      else waiting++;
    }
    if (waiting === 0) return;
    const waits = (at: number) => !(gen.released && recordAnswered(view, at));
    const batch = this.#gate.copy(gen, view, n, waiting, clock.monoMs, waits);
    if (batch === undefined) return;
    // A new generation's batches wait until its predecessor has delivered its last one.
    if (gen.released) this.#gate.push(batch);
    else gen.held.push(batch);
  }

  #emitBatch(batch: WaitingBatch<Generation>): void {
    const view = recordsView(batch.b, batch.n);
    const clock = this.#readClocks();
    for (let i = 0; i < batch.n; i++) this.#emitRecord(batch.tag, view, i * RECORD_BYTES, clock);
  }

  #readClocks(): BatchClock {
    return { monoMs: this.#clocks.monoMs(), wallUs: this.#clocks.wallMs() * 1000 };
  }

  /** One record → one Hit, unless a duplicate of the predecessor's, malformed, or listening. */
  #emitRecord(gen: Generation, view: Buffer, at: number, clock: BatchClock): void {
    const tsUs = recordTsUs(view, at);
    const floor = gen.floorUs?.get(gen.plan.interfaces[recordIface(view, at)] ?? "");
    if (floor !== undefined && tsUs <= floor) {
      this.#drops.duplicate++;
      return;
    }
    const family = recordFamily(view, at);
    const protocol = recordProtocol(view, at);
    const port = recordDstPort(view, at);
    const mode = protocol === 6 ? this.#modes.tcp : this.#modes.udp;
    if ((family !== 4 && family !== 6) || (protocol !== 6 && protocol !== 17) || mode === undefined) {
      this.#drops["bad-record"]++;
      return;
    }
    // Answered by the kernel (RST, ICMP port unreachable): no listener, whatever an older snapshot says.
    if (!recordAnswered(view, at) && this.#listeners.has(protocol === 6 ? "tcp" : "udp", port)) {
      this.#drops.listening++;
      return;
    }
    // LISTEN_GRACE: in advanced mode a port that was a service a moment ago is no trap yet.
    const advanced = mode === "atcp" || mode === "audp";
    const proto = protocol === 6 ? "tcp" : "udp";
    if (advanced && this.#listeners.history.listenedWithin(proto, port, this.#graceMs, clock.monoMs)) {
      this.#drops["listen-grace"]++;
      return;
    }
    const hit = probeHit(
      mode,
      family,
      recordSource(view, at),
      port,
      protocol,
      recordTcpFlags(view, at),
      recordIpOptions(view, at),
      clock.monoMs,
    );
    this.#hits++;
    this.#repeats.note(hit.address, protocol, port);
    this.#latencyUs[this.#latencyCount++ % LATENCY_SAMPLES] = clock.wallUs - tsUs;
    try {
      this.#onHit(hit);
    } catch {
      this.#drops["hit-handler-error"]++;
    }
  }

  stats(): CaptureSensorStats {
    const g = this.#generations.counters();
    const drops: Record<string, number> = { ...g.counters.drops };
    const own = { ...this.#drops, "verify-backlog": this.#gate.backlogDropped };
    for (const [k, v] of Object.entries(own)) drops[k] = (drops[k] ?? 0) + v;
    return {
      generation: this.#generations.current?.id ?? 0,
      restarts: this.#generations.restarts,
      interfaces: g.interfaces,
      kernelDropped: g.kernelDropped,
      frames: g.counters.frames,
      decoded: g.counters.decoded,
      candidates: g.counters.candidates,
      replies: g.counters.replies,
      hits: this.#hits,
      drops,
      listenerReads: this.#listeners.reads,
      ownFlowsEvicted: this.#flows.evicted,
      samePortRepeats: this.#repeats.repeats,
      latency: this.#latency(),
    };
  }

  #latency(): LatencySummary {
    const count = Math.min(this.#latencyCount, LATENCY_SAMPLES);
    if (count === 0) return { count: 0, p50Us: 0, p99Us: 0, maxUs: 0 };
    const sorted = this.#latencyUs.slice(0, count).sort();
    const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))]!;
    return { count, p50Us: at(0.5), p99Us: at(0.99), maxUs: sorted[count - 1]! };
  }

  /** The flows this host started (capture-offline.ts gives them to its engine). */
  get ownFlows(): OwnFlows {
    return this.#flows;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#generations.close();
    this.#gate.close();
  }
}
