/**
 * KERNEL_TRAP: how the daemon learns of the blocks the kernel made (its rules:
 * respond/kernel-trap-script.ts).
 * Each trap rule logs the probe it dropped to an NFLOG group; the NFLOG reader
 * (nflog-reader.ts) reads the group through libpcap and gives one event per probe; here each
 * becomes a `Hit` flagged `kernelBlocked`, which the daemon records through its usual path
 * (history, blocked file, state, hosts.deny, route, commands).
 *
 * No kernel block may go unrecorded. The NFLOG volume is bounded by the trap's rate limit
 * (one message per kernel block), so the socket buffer does not overflow; where delivery can
 * still have a gap (the read failed and the reader was re-opened, the kernel reported drops)
 * `onGap` is called, and the daemon compares the kernel's blocked sets with its records
 * (`unrecordedBlocks` in kernel-trap-reconcile.ts). Open this sensor before arming the trap,
 * and disarm the trap before closing it.
 */

import { performance } from "node:perf_hooks";
import { encodeNflog, LINKTYPE_NFLOG } from "../decode/nflog.js";
import { classifyTcp, UDP_SCAN } from "../detect/classify.js";
import { againPrefix, overLimitPrefix, seenPrefix, trapOfPrefix, trapPrefix } from "../kernel-trap-names.js";
import { NFLOG_LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { Hit } from "../vocabulary.js";
import { type NflogCounters, type NflogEvent, type NflogPlan, NflogReader } from "./nflog-reader.js";

/** Classification of a trapped TCP probe whose transport header could not be decoded. */
export const UNDECODED_TCP = "Unknown Type: TCP Packet Flags: not decodable";

export interface KernelTrapSensorOptions {
  /**
   * libpcap snap length (default 65 535). For an nflog device it is also the size of libpcap's
   * receive buffer (128 + snap length): one netlink datagram may carry several messages, and
   * what does not fit the buffer is cut off and lost, so it must hold the largest datagram.
   */
  readonly snapLength?: number;
  /** Netlink socket receive buffer (default 4 MiB: thousands of messages). */
  readonly bufferBytes?: number;
  readonly bufferTimeoutMs?: number;
  /** How often the kernel's drop counter is checked (default 1000 ms). */
  readonly statsIntervalMs?: number;
  /** First delay before re-opening a failed reader; doubles up to 30 s (default 1000 ms). */
  readonly restartDelayMs?: number;
}

export interface KernelTrapSensorParams {
  /** The NFLOG group the trap rules log to (KernelTrap.spec.group). */
  readonly group: number;
  readonly onHit: (hit: Hit) => void;
  /** Called when events may have been lost: reconcile the kernel's sets with the records. */
  readonly onGap?: (reason: string) => void;
  readonly log: Log;
  /** Monotonic milliseconds for `Hit.nowMs`. */
  readonly monoMs?: () => number;
}

export interface KernelTrapSensorStats {
  /** Readers re-opened after a failed read. */
  readonly restarts: number;
  readonly frames: number;
  readonly events: number;
  readonly hits: number;
  /** Probes the trap let through past its block limit, reported for the daemon to judge. */
  readonly overLimitReports: number;
  /** Probes from sources on probation, reported (PROBATION_TIMEOUT). */
  readonly probationRepeatReports: number;
  /** Probes of a log-only mode the kernel counted and reported (nothing dropped). */
  readonly seenReports: number;
  /** Logged by a rule that is not a trap of ours (someone else's rule on our group). */
  readonly foreign: number;
  /** Hits whose port and flags could not be decoded (named from the IP header alone). */
  readonly undecoded: number;
  readonly drops: Readonly<Record<string, number>>;
  readonly kernelDropped: number;
  /** Gaps reported through onGap. */
  readonly gaps: number;
}

export interface KernelTrapSensor {
  readonly group: number;
  stats(): KernelTrapSensorStats;
  /** Delivers what is queued, then unbinds the group. Disarm the trap first. */
  close(): Promise<void>;
}

export type OpenKernelTrapSensorResult =
  | { readonly ok: true; readonly sensor: KernelTrapSensor }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

const DEFAULTS = NFLOG_LIMITS;

const ZERO: NflogCounters = { frames: 0, events: 0, drops: {}, kernelDropped: 0 };

/** Opens the NFLOG reader; resolves once the group is bound (or could not be). */
export async function openKernelTrapSensor(
  params: KernelTrapSensorParams,
  options: KernelTrapSensorOptions = {},
): Promise<OpenKernelTrapSensorResult> {
  if (!Number.isInteger(params.group) || params.group < 0 || params.group > 65535) {
    return { ok: false, error: `NFLOG group ${params.group} is not 0-65535`, permission: false };
  }
  const sensor = new NflogSensor(params, options);
  const r = sensor.openReader();
  if (!r.ok) {
    await sensor.close();
    return r;
  }
  return { ok: true, sensor };
}

/**
 * Runs synthetic reports of every kind (a TCP SYN over IPv4, a UDP datagram over IPv6) through a
 * throwaway sensor's decoding and classification before the trap arms, so that the first real
 * report meets warm code, as the capture's warm-up does for its path (#17: the first probe
 * logged within a millisecond). Its hits go to `onHit` (nowhere, at start); returns how many.
 */
export function warmUpKernelTrapPath(onHit: (hit: Hit) => void, log: Log, rounds = 5): number {
  return NflogSensor.warmUp(onHit, log, rounds);
}

/** A SYN from 192.0.2.2 to 192.0.2.1:1, and a UDP datagram from 2001:db8::2 to [2001:db8::1]:1. */
function warmUpPackets(): readonly { readonly family: 4 | 6; readonly packet: Uint8Array }[] {
  const syn = new Uint8Array(40);
  syn.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1]);
  syn.set([0x30, 0x39, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x04, 0x00], 20);
  const udp = new Uint8Array(48);
  udp.set([0x60, 0, 0, 0, 0, 8, 17, 64]);
  udp.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2], 8);
  udp.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1], 24);
  udp.set([0x30, 0x39, 0, 1, 0, 8, 0, 0], 40);
  return [
    { family: 4, packet: syn },
    { family: 6, packet: udp },
  ];
}

class NflogSensor implements KernelTrapSensor {
  static warmUp(onHit: (hit: Hit) => void, log: Log, rounds: number): number {
    let hits = 0;
    const count = (hit: Hit): void => {
      hits++;
      onHit(hit);
    };
    const sensor = new NflogSensor({ group: 0, log, onHit: count }, {});
    const reader = new NflogReader(sensor.#plan, { event: (e) => sensor.#onEvent(e), failed: () => {} });
    const frames: Uint8Array[] = [];
    for (const { family, packet } of warmUpPackets()) {
      const mode = family === 4 ? "stcp" : "sudp";
      for (const prefix of [trapPrefix, overLimitPrefix, againPrefix, seenPrefix])
        frames.push(encodeNflog(family, 0, prefix(mode), packet));
    }
    for (let i = 0; i < rounds; i++) for (const f of frames) reader.deliver(f, LINKTYPE_NFLOG, 0);
    void sensor.close();
    return hits;
  }

  readonly group: number;
  readonly #p: KernelTrapSensorParams;
  readonly #o: KernelTrapSensorOptions;
  readonly #monoMs: () => number;
  readonly #plan: NflogPlan;
  #reader: NflogReader | undefined;
  /** The reader's kernel drop count at the last check. */
  #seenKernelDropped = 0;
  #statsTimer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restartDelayMs: number;
  #closed = false;
  #restarts = 0;
  #hits = 0;
  #overLimitReports = 0;
  #againReports = 0;
  #seenReports = 0;
  #foreign = 0;
  #undecoded = 0;
  #gaps = 0;
  /** Counters of readers that have been closed. */
  #retired: NflogCounters = ZERO;

  constructor(params: KernelTrapSensorParams, options: KernelTrapSensorOptions) {
    this.group = params.group;
    this.#p = params;
    this.#o = options;
    this.#monoMs = params.monoMs ?? (() => performance.now());
    this.#restartDelayMs = options.restartDelayMs ?? DEFAULTS.restartDelayMs;
    this.#plan = {
      device: `nflog:${params.group}`,
      snapLength: options.snapLength ?? DEFAULTS.snapLength,
      bufferBytes: options.bufferBytes ?? DEFAULTS.bufferBytes,
      bufferTimeoutMs: options.bufferTimeoutMs ?? DEFAULTS.bufferTimeoutMs,
    };
  }

  stats(): KernelTrapSensorStats {
    const c = this.#reader?.counters() ?? ZERO;
    const r = this.#retired;
    return {
      restarts: this.#restarts,
      frames: r.frames + c.frames,
      events: r.events + c.events,
      hits: this.#hits,
      overLimitReports: this.#overLimitReports,
      probationRepeatReports: this.#againReports,
      seenReports: this.#seenReports,
      foreign: this.#foreign,
      undecoded: this.#undecoded,
      drops: addDrops(r.drops, c.drops),
      kernelDropped: r.kernelDropped + c.kernelDropped,
      gaps: this.#gaps,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    this.#closeReader();
  }

  /** Binds the group; from then on its events arrive as hits. */
  openReader(): { ok: true } | { ok: false; error: string; permission: boolean } {
    const reader: NflogReader = new NflogReader(this.#plan, {
      event: (e) => this.#onEvent(e),
      failed: (error) => this.#onFailed(reader, error),
    });
    const r = reader.open();
    if (!r.ok) return { ok: false, error: `${this.#plan.device}: ${r.error}`, permission: r.permission };
    this.#reader = reader;
    this.#seenKernelDropped = 0;
    return { ok: true };
  }

  #closeReader(): void {
    clearTimeout(this.#statsTimer);
    this.#statsTimer = undefined;
    const reader = this.#reader;
    if (reader === undefined) return;
    this.#reader = undefined;
    const c = reader.close();
    const r = this.#retired;
    this.#retired = {
      frames: r.frames + c.frames,
      events: r.events + c.events,
      drops: addDrops(r.drops, c.drops),
      kernelDropped: r.kernelDropped + c.kernelDropped,
    };
  }

  /**
   * The kernel drops messages only while messages come: the drop check runs once, a while after
   * an event, and no timer ticks at rest (#17: nothing to do, nothing done).
   */
  #armDropCheck(): void {
    if (this.#statsTimer !== undefined) return;
    const everyMs = this.#o.statsIntervalMs ?? DEFAULTS.statsIntervalMs;
    this.#statsTimer = setTimeout(() => {
      this.#statsTimer = undefined;
      this.#checkKernelDrops();
    }, everyMs);
    this.#statsTimer.unref();
  }

  #onEvent(e: NflogEvent): void {
    this.#armDropCheck();
    const trap = trapOfPrefix(e.prefix);
    if (trap === undefined) {
      this.#foreign++;
      return;
    }
    const mode = trap.mode;
    const tcp = mode === "stcp" || mode === "atcp";
    let classification: string;
    if (e.protocol === 6) classification = classifyTcp(e.tcpFlags).name;
    else if (e.protocol === 17) classification = UDP_SCAN.name;
    else {
      this.#undecoded++;
      classification = tcp ? UNDECODED_TCP : UDP_SCAN.name;
    }
    if (trap.report === "over-limit") this.#overLimitReports++;
    else if (trap.report === "again") this.#againReports++;
    else if (trap.report === "seen") this.#seenReports++;
    else this.#hits++;
    const hit: Hit = {
      mode,
      address: e.address,
      family: e.family,
      port: e.port,
      classification,
      ipOptions: e.ipOptions,
      nowMs: this.#monoMs(),
      // Past the limit, or seen by a log-only mode, the kernel did not block: the daemon's
      // policy decides (and logs). A repeat from a source on probation was dropped and the
      // source stays on it.
      ...(trap.report === "trapped" ? { kernelBlocked: true } : {}),
      ...(trap.report === "again" ? { probationRepeat: true } : {}),
    };
    try {
      this.#p.onHit(hit);
    } catch (err) {
      this.#p.log.error(msg.kernelTrapHandlerFailed("hit", (err as Error).message));
    }
  }

  #checkKernelDrops(): void {
    const dropped = this.#reader?.counters().kernelDropped ?? 0;
    if (dropped > this.#seenKernelDropped)
      this.#gap(`the kernel dropped ${dropped - this.#seenKernelDropped} NFLOG messages`);
    this.#seenKernelDropped = dropped;
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#p.log.warn(msg.kernelTrapGap(reason));
    try {
      this.#p.onGap?.(reason);
    } catch (err) {
      this.#p.log.error(msg.kernelTrapHandlerFailed("gap", (err as Error).message));
    }
  }

  /** The read failed (the reader delivers nothing more): re-open it, with back-off. */
  #onFailed(reader: NflogReader, error: string): void {
    if (this.#closed || reader !== this.#reader) return;
    this.#p.log.error(msg.nflogReadFailed(error));
    this.#closeReader();
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer !== undefined) return;
    const delayMs = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delayMs * 2, DEFAULTS.maxRestartDelayMs);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closed) return;
      this.#restarts++;
      const r = this.openReader();
      if (!r.ok) {
        this.#p.log.error(msg.nflogReopenFailed(r.error));
        this.#scheduleRestart();
        return;
      }
      this.#restartDelayMs = this.#o.restartDelayMs ?? DEFAULTS.restartDelayMs;
      this.#gap("the NFLOG reader was re-opened");
    }, delayMs);
  }
}

function addDrops(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}
