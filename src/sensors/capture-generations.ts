/**
 * The capture sensor's captures, one "generation" at a time: a filter and a set of interfaces,
 * owned by one capture engine (capture-engine.ts). Every `pollIntervalMs` (more often while
 * there is nothing to capture) the interfaces, the local addresses and the listening ports are
 * re-read; when the filter or the interface set changes the next generation opens, and the old
 * one stops once the new one is armed. Both see the packets of the overlap; the old one's last
 * capture time per interface is the floor below which the new one's records are duplicates (a
 * ring delivers in arrival order, so everything up to that time was delivered by the old one).
 * A capture that fails (its interface went away) makes it re-plan, with back-off.
 *
 * Ports with a local listener when the filter is built are left out of it (the kernel drops
 * traffic to real services); a service started later is caught by the listener gate.
 */

import type { OwnFlows } from "../detect/own-flows.js";
import { CAPTURE_LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { portRanges, withoutPorts } from "../port-set.js";
import type { PortBitmap } from "../vocabulary.js";
import { buildFilter } from "./bpf.js";
import { DEFAULT_CAPTURE_OPTIONS } from "./capture.js";
import { CaptureEngine, WARM_UP_PLAN } from "./capture-engine.js";
import type { CapturePlan, EngineCounters, InterfaceStats, OpenFailure } from "./capture-plan.js";
import type { ChangeWatch } from "./command-feed.js";
import { captureInterfaces, listInterfaces, localAddresses } from "./interfaces.js";
import type { WaitingBatch } from "./listener-gate.js";
import type { ListenerTable } from "./listening.js";

/** Watched ports per protocol (undefined: that protocol's mode is not running). */
export interface WatchedPorts {
  readonly tcp: PortBitmap | undefined;
  readonly udp: PortBitmap | undefined;
}

export interface Generation {
  readonly id: number;
  readonly engine: CaptureEngine;
  readonly plan: CapturePlan;
  readonly key: string;
  /** Watched ports in this plan (for runtime log lines). */
  readonly inUse: WatchedPorts;
  opened: readonly string[];
  /** Max capture time delivered, per interface name. */
  readonly lastTsUs: Map<string, number>;
  /** Records at or below these capture times are duplicates of the predecessor's. */
  floorUs: Map<string, number> | undefined;
  /** False while the predecessor is still delivering: its batches wait in `held`. */
  released: boolean;
  readonly held: WaitingBatch<Generation>[];
}

export interface GenerationOptions {
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
  /**
   * Interface and address changes, when followed: then the poll only re-reads listeners (every
   * `listenerPollIntervalMs`), and a change re-plans at once.
   */
  readonly hostFacts?: ChangeWatch;
  readonly snapLength?: number;
  readonly bufferBytes?: number;
  readonly bufferTimeoutMs?: number;
  readonly holdUnderLoadMs?: number;
}

export interface GenerationDeps {
  /** The `-i` list (empty: every interface that is up but loopback). */
  readonly requested: readonly string[];
  /** Candidate ports before listeners are taken out. */
  readonly candidates: WatchedPorts;
  readonly listeners: ListenerTable;
  /** The flows this host started: outlive generations (a filter change loses no reply). */
  readonly flows: OwnFlows;
  /** DETECT_ACK_SCANS. */
  readonly ackScans: boolean;
  readonly log: Log;
  readonly monoMs: () => number;
  readonly options: GenerationOptions;
  /** An engine's batch (`b` is reused after the call). */
  readonly onRecords: (gen: Generation, b: Uint8Array, n: number) => void;
  /** A generation's held batches may go on (its predecessor has delivered its last). */
  readonly onReleased: (gen: Generation) => void;
  /** The watched ports changed (a listener came or went). */
  readonly onWatchChange: (before: WatchedPorts, after: WatchedPorts) => void;
}

type Planned =
  | {
      readonly ok: true;
      readonly plan: CapturePlan | undefined;
      readonly key: string;
      readonly inUse: WatchedPorts;
    }
  | { readonly ok: false; readonly error: string };

export type StartResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

/** Counters of the generations that have stopped. */
interface Retired {
  frames: number;
  decoded: number;
  candidates: number;
  replies: number;
  kernelDropped: number;
  readonly drops: Record<string, number>;
}

export class CaptureGenerations {
  readonly #d: GenerationDeps;
  #current: Generation | undefined;
  #count = 0;
  #restarts = 0;
  #restartDelayMs: number = CAPTURE_LIMITS.firstRestartDelayMs;
  #restartTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;
  /** Interfaces already reported as failing, so a poll does not repeat the line every time. */
  readonly #reportedFailures = new Map<string, string>();
  readonly #retired: Retired = {
    frames: 0,
    decoded: 0,
    candidates: 0,
    replies: 0,
    kernelDropped: 0,
    drops: {},
  };

  constructor(deps: GenerationDeps) {
    this.#d = deps;
  }

  /** Opens the first generation (or stays idle when there is nothing to capture yet), then polls. */
  start(): StartResult {
    const planned = this.#plan();
    const log = this.#d.log;
    if (!planned.ok) {
      log.error(msg.captureError(this.#d.requested.join(",") || "*", planned.error));
      return { ok: false, error: planned.error, permission: false };
    }
    if (planned.plan !== undefined) {
      const { gen, failed } = this.#open(planned.plan, planned.key, planned.inUse);
      if (gen.opened.length === 0) {
        const permission = failed.some((f) => f.permission);
        const error = failed.map((f) => `${f.name}: ${f.error}`).join("; ") || "no interface could be opened";
        for (const f of failed) log.error(msg.captureError(f.name, f.error));
        this.#stop(gen);
        return { ok: false, error, permission };
      }
      this.#reportFailures(failed);
      this.#current = gen;
      this.#release(gen, undefined);
    }
    // Else nothing to capture yet (every watched port has a listener, or no address): idle.
    this.#startPolling();
    return { ok: true };
  }

  /** The generation capturing now, if any. */
  get current(): Generation | undefined {
    return this.#current;
  }

  /** Captures re-opened after one failed. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Counters over every generation, the current one's included. */
  counters(): { counters: EngineCounters; interfaces: readonly InterfaceStats[]; kernelDropped: number } {
    const live = this.#current?.engine.stopped === false ? this.#current.engine.counters() : undefined;
    const r = this.#retired;
    const c = live?.counters;
    const drops: Record<string, number> = { ...r.drops };
    for (const [k, v] of Object.entries(c?.drops ?? {})) drops[k] = (drops[k] ?? 0) + v;
    let kernelDropped = r.kernelDropped;
    for (const s of live?.interfaces ?? []) kernelDropped += s.dropped;
    return {
      counters: {
        frames: r.frames + (c?.frames ?? 0),
        decoded: r.decoded + (c?.decoded ?? 0),
        candidates: r.candidates + (c?.candidates ?? 0),
        replies: r.replies + (c?.replies ?? 0),
        drops,
      },
      interfaces: live?.interfaces ?? [],
      kernelDropped,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#restartTimer);
    if (this.#current !== undefined) this.#stop(this.#current);
  }

  #plan(): Planned {
    const { requested, candidates, listeners, options } = this.#d;
    const ifaces = captureInterfaces(requested, listInterfaces());
    if (ifaces.length === 0 && this.#current === undefined && this.#count === 0) {
      const error =
        requested.length > 0
          ? `none of the interfaces ${requested.join(", ")} exists and is up`
          : "no network interface to capture on (all are down or loopback)";
      return { ok: false, error };
    }
    const tcp = candidates.tcp && withoutPorts(candidates.tcp, listeners.ports("tcp"));
    const udp = candidates.udp && withoutPorts(candidates.udp, listeners.ports("udp"));
    const addresses = localAddresses();
    const ackScans = this.#d.ackScans;
    const filter = buildFilter({ tcp, udp, v4: addresses.v4, v6: addresses.v6, ackScans });
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
      ackScans,
      snapLength: options.snapLength ?? DEFAULT_CAPTURE_OPTIONS.snapLength,
      bufferBytes: options.bufferBytes ?? DEFAULT_CAPTURE_OPTIONS.bufferBytes,
      bufferTimeoutMs: options.bufferTimeoutMs ?? DEFAULT_CAPTURE_OPTIONS.bufferTimeoutMs,
      holdUnderLoadMs: options.holdUnderLoadMs ?? DEFAULT_CAPTURE_OPTIONS.holdUnderLoadMs ?? 0,
    };
    const key = JSON.stringify([plan.interfaces, plan.filter, plan.ownAddresses]);
    return { ok: true, plan, key, inUse };
  }

  /** Opens the captures of a new generation; its records are held until it is released. */
  #open(
    plan: CapturePlan,
    key: string,
    inUse: WatchedPorts,
  ): { gen: Generation; failed: readonly OpenFailure[] } {
    const gen: Generation = {
      id: ++this.#count,
      engine: new CaptureEngine(
        plan,
        {
          hits: (b, n) => this.#d.onRecords(gen, b, n),
          failed: (error) => this.#onCaptureFailed(gen, error),
        },
        undefined,
        this.#d.flows,
      ),
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
    this.#d.log.error(msg.captureError(gen.opened.join(",") || "*", `${error}; re-opening`));
    this.#scheduleRestart();
  }

  /** Lets a generation's batches through; `floorUs`: its predecessor's last capture times. */
  #release(gen: Generation, floorUs: Map<string, number> | undefined): void {
    gen.floorUs = floorUs;
    gen.released = true;
    this.#d.onReleased(gen);
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer !== undefined) return;
    const delayMs = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, CAPTURE_LIMITS.maxRestartDelayMs);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarts++;
      void this.#poll(true);
    }, delayMs);
    this.#restartTimer.unref();
  }

  #startPolling(): void {
    const facts = this.#d.options.hostFacts;
    facts?.onChange(() => void this.#poll(false));
    const next = (): void => {
      if (this.#closed) return;
      const everyMs =
        facts?.live === true
          ? (this.#d.options.listenerPollIntervalMs ?? CAPTURE_LIMITS.listenerPollIntervalMs)
          : (this.#d.options.pollIntervalMs ?? CAPTURE_LIMITS.pollIntervalMs);
      // Nothing to capture (say an interface just came up: the kernel marks it running, which
      // makes its addresses visible, up to a second later): look again soon. A capture that
      // failed to open is retried by the restart timer, with its back-off. A followed link change
      // says when instead.
      const idle = this.#current === undefined && this.#restartTimer === undefined && facts?.live !== true;
      const delayMs = idle ? Math.min(everyMs, CAPTURE_LIMITS.idlePollIntervalMs) : everyMs;
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
    const { listeners, candidates } = this.#d;
    const now = this.#d.monoMs();
    const everyMs = this.#d.options.listenerPollIntervalMs ?? CAPTURE_LIMITS.listenerPollIntervalMs;
    await Promise.all(
      (["tcp", "udp"] as const)
        .filter((p) => candidates[p] !== undefined)
        .filter((p) => force || now - listeners.snapshotMs(p) >= everyMs)
        .map((p) => listeners.refresh(p)),
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
    if (current !== undefined) this.#d.onWatchChange(current.inUse, planned.inUse);
    if (planned.plan === undefined) {
      // Nothing left to capture: close the captures, stay armed for later changes.
      if (current !== undefined) {
        this.#current = undefined;
        this.#stop(current);
      }
      return;
    }
    const { gen: next, failed } = this.#open(planned.plan, planned.key, planned.inUse);
    this.#reportFailures(failed);
    if (next.opened.length === 0) {
      this.#stop(next);
      if (current === undefined || force) this.#scheduleRestart();
      return;
    }
    this.#restartDelayMs = CAPTURE_LIMITS.firstRestartDelayMs;
    // The new one is armed; the old one hands over what it has and stops, then the new one's
    // records flow, minus what the old one already delivered.
    if (current !== undefined) this.#stop(current);
    this.#current = next;
    this.#release(next, current?.lastTsUs);
  }

  #reportFailures(failed: readonly OpenFailure[]): void {
    for (const f of failed) this.#reportOnce(f.name, f.error);
  }

  #reportOnce(iface: string, error: string): void {
    if (this.#reportedFailures.get(iface) === error) return;
    this.#reportedFailures.set(iface, error);
    this.#d.log.error(msg.captureError(iface, error));
  }

  /** Closes a generation's captures; what it had batched is delivered first. Its counters retire. */
  #stop(gen: Generation): void {
    if (gen.engine.stopped) return;
    const last = gen.engine.stop();
    const c = last.counters;
    const r = this.#retired;
    r.frames += c.frames;
    r.decoded += c.decoded;
    r.candidates += c.candidates;
    r.replies += c.replies;
    for (const [k, v] of Object.entries(c.drops)) r.drops[k] = (r.drops[k] ?? 0) + v;
    for (const i of last.interfaces) r.kernelDropped += i.dropped;
  }
}

/** A released generation of a throwaway engine, for the warm-up: its captures never open. */
export function warmUpGeneration(): Generation {
  return {
    id: 0,
    engine: new CaptureEngine(WARM_UP_PLAN, { hits: () => {}, failed: () => {} }),
    plan: WARM_UP_PLAN,
    key: "warm-up",
    inUse: { tcp: undefined, udp: undefined },
    opened: [],
    lastTsUs: new Map(),
    floorUs: undefined,
    released: true,
    held: [],
  };
}
