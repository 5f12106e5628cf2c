/**
 * Stealth and advanced modes (`-stcp -sudp -atcp -audp`, spec §3): probes seen by libpcap
 * instead of bound ports. One TCP mode and/or one UDP mode share one capture.
 *
 * The captures belong to a capture engine (capture-engine.ts), one per "generation": a filter
 * and a set of interfaces. Every `pollIntervalMs` (more often while there is nothing to
 * capture) the sensor re-reads the interfaces, the local addresses and the listening ports;
 * when the filter or the interface set changes it opens the next generation, and stops the old
 * one once the new one is armed. Both see the packets of the overlap; the old one's last
 * capture time per interface is the floor below which the new one's records are dropped as
 * duplicates (a ring delivers in arrival order, so everything up to that time was delivered by
 * the old one). A capture that fails (its interface went away) makes the sensor re-plan, with
 * back-off.
 *
 * Listeners ("Smart-Verify", "inverse binding"): ports with a local listener when the filter is
 * built are left out of it (the kernel drops traffic to real services). A service started later
 * is caught here: a candidate is emitted only after a listener snapshot *begun after the
 * candidate reached us* says the port is unused, so an FTP data port or `nc -l` opened a moment
 * before its first packet is never a trap. Snapshots are taken on demand, batch by batch, but
 * never more often than every 10 ms and, past a short burst, than 20 × their own cost
 * (listening.ts), so a flood costs at most ~100 /proc reads a second and ~5 % of a core, never
 * one read per packet; batches wait (bounded) meanwhile.
 */

import { performance } from "node:perf_hooks";
import type { Config } from "../config/types.js";
import { formatSourceIp } from "../decode/address.js";
import type { Hit, Mode } from "../detect/events.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { buildFilter } from "./bpf.js";
import { DEFAULT_CAPTURE_OPTIONS } from "./capture.js";
import { CaptureEngine, WARM_UP_PLAN } from "./capture-engine.js";
import { type CapturePlan, type InterfaceStats, type OpenFailure, RECORD_BYTES } from "./capture-plan.js";
import { captureInterfaces, listInterfaces, localAddresses } from "./interfaces.js";
import { ListenerTable, type ListenerTable as ListenerTableType, type ListenProto } from "./listening.js";
import {
  candidatePorts,
  emptyPorts,
  isCaptureMode,
  type PortBitmap,
  portRanges,
  type StealthMode,
  withoutPorts,
} from "./port-set.js";
import { probeHit } from "./probe-rules.js";

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

export interface CaptureSensorOptions {
  /**
   * How often interfaces and addresses are re-read (default 2000 ms; every 250 ms while there is
   * nothing to capture).
   */
  readonly pollIntervalMs?: number;
  /**
   * How often listeners are re-read to rebuild the filter's holes (default 10 000 ms; a read of
   * /proc/net/tcp* costs ~9 ms here). Only an optimisation: probes are checked one by one.
   */
  readonly listenerPollIntervalMs?: number;
  readonly snapLength?: number;
  readonly bufferBytes?: number;
  readonly bufferTimeoutMs?: number;
  readonly holdUnderLoadMs?: number;
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
  const capture = modes.filter(isCaptureMode);
  const tcpModes = capture.filter((m) => m === "stcp" || m === "atcp");
  const udpModes = capture.filter((m) => m === "sudp" || m === "audp");
  if (capture.length === 0 || tcpModes.length > 1 || udpModes.length > 1) {
    return { ok: false, error: "need one TCP and/or one UDP stealth or advanced mode", permission: false };
  }
  const sensor = new StealthSensor(
    capture,
    tcpModes[0],
    udpModes[0],
    config,
    interfaces,
    onHit,
    log,
    clocks,
    options,
  );
  return sensor.start();
}

interface Generation {
  readonly id: number;
  readonly engine: CaptureEngine;
  readonly plan: CapturePlan;
  readonly key: string;
  /** Watched ports per protocol in this plan (for runtime log lines). */
  readonly inUse: { readonly tcp: PortBitmap | undefined; readonly udp: PortBitmap | undefined };
  opened: readonly string[];
  /** Max capture time delivered, per interface name. */
  readonly lastTsUs: Map<string, number>;
  /** Records at or below these capture times are duplicates of the predecessor's. */
  floorUs: Map<string, number> | undefined;
  /** False while the predecessor is still delivering: its batches wait in `held`. */
  released: boolean;
  readonly held: PendingBatch[];
}

interface PendingBatch {
  readonly gen: Generation;
  readonly b: Uint8Array;
  readonly n: number;
  readonly receivedMs: number;
  readonly hasTcp: boolean;
  readonly hasUdp: boolean;
}

const DEFAULTS = {
  pollIntervalMs: 2000,
  idlePollIntervalMs: 250,
  listenerPollIntervalMs: 10_000,
  maxPendingRecords: 262_144,
  maxRestartDelayMs: 30_000,
} as const;

const LATENCY_SAMPLES = 4096;

interface BatchClock {
  readonly monoMs: number;
  readonly wallUs: number;
}

class StealthSensor implements CaptureSensor {
  readonly modes: readonly StealthMode[];
  readonly #tcpMode: StealthMode | undefined;
  readonly #udpMode: StealthMode | undefined;
  readonly #config: Config;
  readonly #requested: readonly string[];
  readonly #onHit: (hit: Hit) => void;
  readonly #log: Log;
  readonly #clocks: SensorClocks;
  readonly #o: CaptureSensorOptions;
  readonly #candidates: { readonly tcp: PortBitmap | undefined; readonly udp: PortBitmap | undefined };
  readonly #listeners: ListenerTableType;

  #current: Generation | undefined;
  #generationCount = 0;
  #restarts = 0;
  #restartDelayMs = 1000;
  #restartTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #pumpTimer: NodeJS.Timeout | undefined;
  #pumpWaiting = false;
  #closed = false;
  #polling = false;
  /** Interfaces already reported as failing, so a poll does not repeat the line every time. */
  readonly #reportedFailures = new Map<string, string>();

  readonly #queue: PendingBatch[] = [];
  #queuedRecords = 0;

  // Counters.
  #hits = 0;
  readonly #drops = {
    listening: 0,
    duplicate: 0,
    "verify-backlog": 0,
    "hit-handler-error": 0,
    "bad-record": 0,
  };
  /** Totals of generations that have stopped. */
  readonly #retired = {
    frames: 0,
    decoded: 0,
    candidates: 0,
    replies: 0,
    kernelDropped: 0,
    drops: {} as Record<string, number>,
  };
  readonly #latencyUs = new Float64Array(LATENCY_SAMPLES);
  static #warmedUp = false;
  #latencyCount = 0;

  constructor(
    modes: readonly StealthMode[],
    tcpMode: StealthMode | undefined,
    udpMode: StealthMode | undefined,
    config: Config,
    requested: readonly string[],
    onHit: (hit: Hit) => void,
    log: Log,
    clocks: SensorClocks,
    options: CaptureSensorOptions,
  ) {
    this.modes = modes;
    this.#tcpMode = tcpMode;
    this.#udpMode = udpMode;
    this.#config = config;
    this.#requested = requested;
    this.#onHit = onHit;
    this.#log = log;
    this.#clocks = clocks;
    this.#o = options;
    this.#candidates = {
      tcp: tcpMode && candidatePorts(tcpMode, config),
      udp: udpMode && candidatePorts(udpMode, config),
    };
    this.#listeners = new ListenerTable({
      monoMs: clocks.monoMs,
      minIntervalMs: options.listenerMinIntervalMs,
      costFactor: options.listenerCostFactor,
      read: options.readListeners,
    });
  }

  async start(): Promise<OpenCaptureSensorResult> {
    if (this.#tcpMode) this.#listeners.refreshSync("tcp");
    if (this.#udpMode) this.#listeners.refreshSync("udp");
    this.#logStartup();

    const plan = this.#plan();
    if (!plan.ok) {
      this.#log.error(msg.captureError(this.#requested.join(",") || "*", plan.error));
      return { ok: false, error: plan.error, permission: false };
    }
    if (plan.plan === undefined) {
      // Nothing to capture yet (every watched port has a listener, or no address): armed, idle.
      this.#startPolling();
      return { ok: true, sensor: this };
    }
    const { gen, failed } = this.#openGeneration(plan.plan, plan.key, plan.inUse);
    if (gen.opened.length === 0) {
      const permission = failed.some((f) => f.permission);
      const error = failed.map((f) => `${f.name}: ${f.error}`).join("; ") || "no interface could be opened";
      for (const f of failed) this.#log.error(msg.captureError(f.name, f.error));
      this.#stopGeneration(gen);
      return { ok: false, error, permission };
    }
    this.#reportFailures(failed);
    this.#current = gen;
    this.#release(gen, undefined);
    this.#startPolling();
    return { ok: true, sensor: this };
  }

  interfaces(): readonly string[] {
    return this.#current?.opened ?? [];
  }

  /**
   * Runs synthetic records through a throwaway sensor's real record path (batch → Hit: field
   * reads, address formatting, classification), so that a fresh daemon's first probe meets
   * compiled code. Its hits go nowhere; nothing of this sensor is touched.
   */
  #warmUp(): void {
    if (StealthSensor.#warmedUp) return;
    StealthSensor.#warmedUp = true;
    const scratch = new StealthSensor(
      this.modes,
      this.#tcpMode ?? "stcp",
      this.#udpMode,
      this.#config,
      [],
      () => {},
      this.#log,
      this.#clocks,
      { readListeners: () => emptyPorts() },
    );
    const plan = WARM_UP_PLAN;
    const gen: Generation = {
      id: 0,
      engine: new CaptureEngine(plan, { hits: () => {}, failed: () => {} }),
      plan,
      key: "warm-up",
      inUse: { tcp: undefined, udp: undefined },
      opened: [],
      lastTsUs: new Map(),
      floorUs: undefined,
      released: true,
      held: [],
    };
    const n = 16;
    const b = Buffer.alloc(n * RECORD_BYTES);
    for (let i = 0; i < n; i++) {
      const at = i * RECORD_BYTES;
      b[at + 1] = i % 2 === 0 ? 4 : 6;
      b[at + 2] = 6;
      b[at + 3] = [0x02, 0x01, 0x00, 0x29][i % 4]!;
      b[at + 5] = 1; // answered by the kernel: emitted at once, no listener snapshot
      b.writeUInt16LE(1 + i, at + 6);
      b[at + 16] = i % 2 === 0 ? 192 : 0x20;
    }
    for (let round = 0; round < 10; round++) scratch.#enqueue(gen, b, n);
  }

  // --- start-up lines (spec §5, 1.2 texts) ---

  #logStartup(): void {
    const log = this.#log;
    const config = this.#config;
    for (const [mode, proto] of [
      [this.#tcpMode, "tcp"],
      [this.#udpMode, "udp"],
    ] as const) {
      if (mode === undefined) continue;
      const p = proto === "tcp" ? "TCP" : "UDP";
      if (mode === "stcp" || mode === "sudp") {
        for (const port of proto === "tcp" ? config.tcpPorts : config.udpPorts) {
          log.notice(
            this.#listeners.has(proto, port) ? msg.stealthPortInUse(p, port) : msg.stealthListen(p, port),
          );
        }
      } else {
        const below = proto === "tcp" ? config.advancedPortsTcp : config.advancedPortsUdp;
        const exclude = proto === "tcp" ? config.advancedExcludeTcp : config.advancedExcludeUdp;
        log.notice(msg.advancedMonitor(below));
        for (const port of exclude) log.notice(msg.advancedExclude(port));
        const candidates = this.#candidates[proto];
        for (let port = 0; port < below && port < 65536; port++) {
          if (candidates?.[port] === 1 && this.#listeners.has(proto, port)) {
            log.notice(msg.advancedIgnoredPort(p, port));
          }
        }
      }
    }
  }

  // --- plans and generations ---

  #plan():
    | {
        ok: true;
        plan: CapturePlan | undefined;
        key: string;
        inUse: { tcp: PortBitmap | undefined; udp: PortBitmap | undefined };
      }
    | { ok: false; error: string } {
    const ifaces = captureInterfaces(this.#requested, listInterfaces());
    if (ifaces.length === 0 && this.#current === undefined && this.#generationCount === 0) {
      const error =
        this.#requested.length > 0
          ? `none of the interfaces ${this.#requested.join(", ")} exists and is up`
          : "no network interface to capture on (all are down or loopback)";
      return { ok: false, error };
    }
    const tcp = this.#candidates.tcp && withoutPorts(this.#candidates.tcp, this.#listeners.ports("tcp"));
    const udp = this.#candidates.udp && withoutPorts(this.#candidates.udp, this.#listeners.ports("udp"));
    const addresses = localAddresses();
    const filter = buildFilter({ tcp, udp, v4: addresses.v4, v6: addresses.v6 });
    const inUse = { tcp, udp };
    if (!filter.ok) {
      if (filter.reason === "too-many-addresses") return { ok: false, error: filter.message };
      return { ok: true, plan: undefined, key: `idle:${filter.reason}`, inUse };
    }
    if (ifaces.length === 0) return { ok: true, plan: undefined, key: "idle:no-interfaces", inUse };
    const ranges = (b: PortBitmap | undefined) => b && portRanges(b).map((r) => [r.from, r.to] as const);
    const plan: CapturePlan = {
      interfaces: ifaces,
      filter: filter.expression,
      tcpRanges: ranges(tcp),
      udpRanges: ranges(udp),
      ownAddresses: addresses.own,
      snapLength: this.#o.snapLength ?? DEFAULT_CAPTURE_OPTIONS.snapLength,
      bufferBytes: this.#o.bufferBytes ?? DEFAULT_CAPTURE_OPTIONS.bufferBytes,
      bufferTimeoutMs: this.#o.bufferTimeoutMs ?? DEFAULT_CAPTURE_OPTIONS.bufferTimeoutMs,
      holdUnderLoadMs: this.#o.holdUnderLoadMs ?? DEFAULT_CAPTURE_OPTIONS.holdUnderLoadMs ?? 0,
    };
    const key = JSON.stringify([plan.interfaces, plan.filter, plan.ownAddresses]);
    return { ok: true, plan, key, inUse };
  }

  /** Opens the captures of a new generation; its records are held until it is released. */
  #openGeneration(
    plan: CapturePlan,
    key: string,
    inUse: { tcp: PortBitmap | undefined; udp: PortBitmap | undefined },
  ): { gen: Generation; failed: readonly OpenFailure[] } {
    // Here, not at start: a daemon started before its interface runs opens its first capture
    // from the poll, and its first probe would otherwise meet never-run code (~2 ms).
    this.#warmUp();
    const gen: Generation = {
      id: ++this.#generationCount,
      engine: new CaptureEngine(plan, {
        hits: (b, n) => this.#enqueue(gen, b, n),
        failed: (error) => this.#onCaptureFailed(gen, error),
      }),
      plan,
      key,
      inUse,
      opened: [],
      lastTsUs: new Map(),
      floorUs: undefined,
      released: false,
      held: [],
    };
    const { opened, failed } = gen.engine.open();
    gen.opened = opened;
    return { gen, failed };
  }

  /** A capture of a running generation failed for good: re-plan (with back-off). */
  #onCaptureFailed(gen: Generation, error: string): void {
    if (gen.engine.stopped || this.#closed) return;
    this.#log.error(msg.captureError(gen.opened.join(",") || "*", `${error}; re-opening`));
    this.#scheduleRestart();
  }

  /** Lets a generation's batches through; `floorUs`: its predecessor's last capture times. */
  #release(gen: Generation, floorUs: Map<string, number> | undefined): void {
    gen.floorUs = floorUs;
    gen.released = true;
    for (const batch of gen.held) this.#queue.push(batch);
    gen.held.length = 0;
    this.#pump();
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer !== undefined) return;
    const delayMs = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, DEFAULTS.maxRestartDelayMs);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarts++;
      void this.#poll(true);
    }, delayMs);
    this.#restartTimer.unref();
  }

  #startPolling(): void {
    const everyMs = this.#o.pollIntervalMs ?? DEFAULTS.pollIntervalMs;
    const next = (): void => {
      if (this.#closed) return;
      // Nothing to capture (say an interface just came up: the kernel marks it running, which
      // makes its addresses visible, up to a second later): look again soon. A capture that
      // failed to open is retried by the restart timer, with its back-off.
      const idle = this.#current === undefined && this.#restartTimer === undefined;
      const delayMs = idle ? Math.min(everyMs, DEFAULTS.idlePollIntervalMs) : everyMs;
      this.#pollTimer = setTimeout(() => void this.#poll(false).finally(next), delayMs);
    };
    next();
  }

  /** Re-reads interfaces, addresses and listeners; starts a new generation if the plan changed. */
  async #poll(force: boolean): Promise<void> {
    if (this.#closed || this.#polling) return;
    this.#polling = true;
    try {
      await this.#pollOnce(force);
    } finally {
      this.#polling = false;
    }
  }

  async #pollOnce(force: boolean): Promise<void> {
    const now = this.#clocks.monoMs();
    const everyMs = this.#o.listenerPollIntervalMs ?? DEFAULTS.listenerPollIntervalMs;
    await Promise.all(
      (["tcp", "udp"] as const)
        .filter((p) => (p === "tcp" ? this.#tcpMode : this.#udpMode) !== undefined)
        .filter((p) => force || now - this.#listeners.snapshotMs(p) >= everyMs)
        .map((p) => this.#listeners.refresh(p)),
    );
    if (this.#closed) return;
    const planned = this.#plan();
    if (!planned.ok) {
      this.#reportOnce("*", planned.error);
      return;
    }
    const current = this.#current;
    if (!force && current !== undefined && planned.key === current.key) return;
    if (!force && current === undefined && planned.plan === undefined) return;
    if (current !== undefined) this.#logWatchChanges(current.inUse, planned.inUse);
    if (planned.plan === undefined) {
      // Nothing left to capture: close the captures, stay armed for later changes.
      if (current !== undefined) {
        this.#current = undefined;
        this.#stopGeneration(current);
      }
      return;
    }
    const { gen: next, failed } = this.#openGeneration(planned.plan, planned.key, planned.inUse);
    this.#reportFailures(failed);
    if (next.opened.length === 0) {
      this.#stopGeneration(next);
      if (current === undefined || force) this.#scheduleRestart();
      return;
    }
    this.#restartDelayMs = 1000;
    // The new one is armed; the old one hands over what it has and stops, then the new one's
    // records flow, minus what the old one already delivered.
    if (current !== undefined) this.#stopGeneration(current);
    this.#current = next;
    this.#release(next, current?.lastTsUs);
  }

  #logWatchChanges(
    before: { tcp: PortBitmap | undefined; udp: PortBitmap | undefined },
    after: { tcp: PortBitmap | undefined; udp: PortBitmap | undefined },
  ): void {
    for (const [mode, proto] of [
      [this.#tcpMode, "tcp"],
      [this.#udpMode, "udp"],
    ] as const) {
      const b = before[proto];
      const a = after[proto];
      if (mode === undefined || a === undefined || b === undefined) continue;
      const p = proto === "tcp" ? "TCP" : "UDP";
      const stealth = mode === "stcp" || mode === "sudp";
      for (let port = 0; port < 65536; port++) {
        if (b[port] === a[port]) continue;
        if (b[port] === 1) {
          this.#log.notice(stealth ? msg.stealthPortInUse(p, port) : msg.advancedIgnoredPort(p, port));
        } else if (stealth) {
          this.#log.notice(msg.stealthListen(p, port));
        }
      }
    }
  }

  #reportFailures(failed: readonly OpenFailure[]): void {
    for (const f of failed) this.#reportOnce(f.name, f.error);
  }

  #reportOnce(iface: string, error: string): void {
    if (this.#reportedFailures.get(iface) === error) return;
    this.#reportedFailures.set(iface, error);
    this.#log.error(msg.captureError(iface, error));
  }

  /** Closes a generation's captures; what it had batched is delivered first. Its counters retire. */
  #stopGeneration(gen: Generation): void {
    if (gen.engine.stopped) return;
    const last = gen.engine.stop();
    const c = last.counters;
    this.#retired.frames += c.frames;
    this.#retired.decoded += c.decoded;
    this.#retired.candidates += c.candidates;
    this.#retired.replies += c.replies;
    for (const [k, v] of Object.entries(c.drops)) this.#retired.drops[k] = (this.#retired.drops[k] ?? 0) + v;
    for (const i of last.interfaces) this.#retired.kernelDropped += i.dropped;
  }

  // --- candidates → hits ---

  /**
   * A batch from an engine (`b` is the engine's buffer: what waits is copied). Records the
   * kernel already answered with RST or ICMP port unreachable (no listener when the probe came)
   * are emitted at once; the others wait in order for a listener snapshot. So a few
   * unanswered probes in a flood never hold back the answered ones (hits of different probes
   * may come out of arrival order; each one's counting does not depend on it).
   */
  #enqueue(gen: Generation, b: Uint8Array, n: number): void {
    if (this.#closed) return;
    if (n <= 0 || b.length < n * RECORD_BYTES) {
      this.#drops["bad-record"]++;
      return;
    }
    const view = Buffer.from(b.buffer, b.byteOffset, n * RECORD_BYTES);
    const clock = this.#readClocks();
    let unverified = 0;
    for (let i = 0; i < n; i++) {
      const at = i * RECORD_BYTES;
      // Tracked on arrival: at the switch-over this is what the generation has delivered.
      const iface = gen.plan.interfaces[view[at]!] ?? "";
      const tsUs = view.readDoubleLE(at + 8);
      if (tsUs > (gen.lastTsUs.get(iface) ?? 0)) gen.lastTsUs.set(iface, tsUs);
      if (gen.released && view[at + 5] === 1) this.#emitRecord(gen, view, at, clock);
      else unverified++;
    }
    if (unverified === 0) return;
    if (this.#queuedRecords + unverified > (this.#o.maxPendingRecords ?? DEFAULTS.maxPendingRecords)) {
      this.#drops["verify-backlog"] += unverified;
      return;
    }
    const waiting = Buffer.allocUnsafe(unverified * RECORD_BYTES);
    let k = 0;
    // Which protocols need a listener snapshot: those with a record the kernel did not answer.
    let hasTcp = false;
    let hasUdp = false;
    for (let i = 0; i < n; i++) {
      const at = i * RECORD_BYTES;
      const answered = view[at + 5] === 1;
      if (gen.released && answered) continue; // emitted above
      view.copy(waiting, k * RECORD_BYTES, at, at + RECORD_BYTES);
      k++;
      if (view[at + 2] === 6) hasTcp ||= !answered;
      else hasUdp ||= !answered;
    }
    const batch: PendingBatch = {
      gen,
      b: waiting,
      n: unverified,
      receivedMs: clock.monoMs,
      hasTcp,
      hasUdp,
    };
    this.#queuedRecords += unverified;
    // A new generation's batches wait until its predecessor has delivered its last one.
    if (gen.released) this.#queue.push(batch);
    else gen.held.push(batch);
    this.#pump();
  }

  /**
   * Emits queued batches in order, each once a listener snapshot begun after it arrived is in
   * (for the protocols it holds). Otherwise waits: for the read in flight, or for the rate bound.
   */
  #pump(): void {
    if (this.#pumpWaiting) return;
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue[0]!;
      for (const proto of ["tcp", "udp"] as const) {
        if (!(proto === "tcp" ? batch.hasTcp : batch.hasUdp)) continue;
        if (this.#listeners.snapshotMs(proto) >= batch.receivedMs) continue;
        const running = this.#listeners.inFlight(proto);
        const now = this.#clocks.monoMs();
        const allowed = this.#listeners.nextReadAllowedMs(proto);
        if (running === undefined && now < allowed) {
          this.#pumpWaiting = true;
          this.#pumpTimer = setTimeout(
            () => {
              this.#pumpWaiting = false;
              this.#pump();
            },
            Math.ceil(allowed - now),
          );
          return;
        }
        // A read begun before this batch arrived is not enough: wait for it, then read again.
        const wait = running ?? { done: this.#listeners.refresh(proto) };
        this.#pumpWaiting = true;
        void wait.done.then(() => {
          this.#pumpWaiting = false;
          this.#pump();
        });
        return;
      }
      this.#queue.shift();
      this.#queuedRecords -= batch.n;
      this.#emit(batch);
    }
  }

  #emit(batch: PendingBatch): void {
    const view = Buffer.from(batch.b.buffer, batch.b.byteOffset, batch.n * RECORD_BYTES);
    const clock = this.#readClocks();
    for (let i = 0; i < batch.n; i++) this.#emitRecord(batch.gen, view, i * RECORD_BYTES, clock);
  }

  /** One record → one Hit, unless a duplicate of the predecessor's, malformed, or listening. */
  /** Both clocks, read once per batch: its records are handled within microseconds. */
  #readClocks(): BatchClock {
    return { monoMs: this.#clocks.monoMs(), wallUs: this.#clocks.wallMs() * 1000 };
  }

  #emitRecord(gen: Generation, view: Buffer, at: number, clock: BatchClock): void {
    const tsUs = view.readDoubleLE(at + 8);
    const floor = gen.floorUs?.get(gen.plan.interfaces[view[at]!] ?? "");
    if (floor !== undefined && tsUs <= floor) {
      this.#drops.duplicate++;
      return;
    }
    const family = view[at + 1];
    const protocol = view[at + 2];
    const port = view.readUInt16LE(at + 6);
    const mode = protocol === 6 ? this.#tcpMode : this.#udpMode;
    if ((family !== 4 && family !== 6) || (protocol !== 6 && protocol !== 17) || mode === undefined) {
      this.#drops["bad-record"]++;
      return;
    }
    // Answered by the kernel (RST, ICMP port unreachable): no listener, whatever an older snapshot says.
    if (view[at + 5] !== 1 && this.#listeners.has(protocol === 6 ? "tcp" : "udp", port)) {
      this.#drops.listening++;
      return;
    }
    const hit = probeHit(
      mode,
      family,
      formatSourceIp(family, view, at + 16),
      port,
      protocol,
      view[at + 3]!,
      view[at + 4] === 1,
      clock.monoMs,
    );
    this.#hits++;
    this.#latencyUs[this.#latencyCount++ % LATENCY_SAMPLES] = clock.wallUs - tsUs;
    try {
      this.#onHit(hit);
    } catch {
      this.#drops["hit-handler-error"]++;
    }
  }

  // --- reporting and shut-down ---

  stats(): CaptureSensorStats {
    const live = this.#current?.engine.stopped === false ? this.#current.engine.counters() : undefined;
    const r = this.#retired;
    const c = live?.counters;
    const drops: Record<string, number> = { ...r.drops };
    for (const [k, v] of Object.entries(c?.drops ?? {})) drops[k] = (drops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(this.#drops)) drops[k] = (drops[k] ?? 0) + v;
    let kernelDropped = r.kernelDropped;
    for (const s of live?.interfaces ?? []) kernelDropped += s.dropped;
    return {
      generation: this.#current?.id ?? 0,
      restarts: this.#restarts,
      interfaces: live?.interfaces ?? [],
      kernelDropped,
      frames: r.frames + (c?.frames ?? 0),
      decoded: r.decoded + (c?.decoded ?? 0),
      candidates: r.candidates + (c?.candidates ?? 0),
      replies: r.replies + (c?.replies ?? 0),
      hits: this.#hits,
      drops,
      listenerReads: this.#listeners.reads,
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#pumpTimer);
    if (this.#current !== undefined) this.#stopGeneration(this.#current);
    this.#queue.length = 0;
    this.#queuedRecords = 0;
  }
}

export { ListenerTable };
