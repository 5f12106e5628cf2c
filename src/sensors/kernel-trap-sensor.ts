/**
 * KERNEL_TRAP: how the daemon learns of the blocks the kernel made (respond/kernel-trap.ts).
 * Each trap rule logs the probe it dropped to an NFLOG group; a worker process
 * (nflog-worker.ts) reads the group through libpcap and sends one event per probe; here each
 * becomes a `Hit` flagged `kernelBlocked`, which the daemon records through its usual path
 * (history, blocked file, state, hosts.deny, route, commands).
 *
 * No kernel block may go unrecorded. The NFLOG volume is bounded by the trap's rate limit
 * (one message per kernel block), so the socket buffer does not overflow; where delivery can
 * still have a gap (the worker died and was restarted, the kernel or the IPC channel reported
 * drops) `onGap` is called, and the daemon compares the kernel's blocked sets with its records
 * (`unrecordedBlocks` in kernel-trap.ts). Open this sensor before arming the trap, and disarm
 * the trap before closing it.
 */

import { type ChildProcess, fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { classifyTcp, UDP_SCAN } from "../detect/classify.js";
import type { Hit } from "../detect/events.js";
import type { Log } from "../log/logger.js";
import { modeOfPrefix } from "../respond/kernel-trap.js";
import {
  isNflogEvent,
  isNflogWorkerMessage,
  type NflogCounters,
  type NflogEvent,
  type NflogPlan,
} from "./nflog-protocol.js";

/** Classification of a trapped TCP probe whose transport header could not be decoded. */
export const UNDECODED_TCP = "Unknown Type: TCP Packet Flags: not decodable";

export interface KernelTrapSensorOptions {
  readonly workerPath?: string;
  /** How long the worker may take to bind the group (default 10 000 ms). */
  readonly readyTimeoutMs?: number;
  /**
   * libpcap snap length (default 65 535). For an nflog device it is also the size of libpcap's
   * receive buffer (128 + snap length): one netlink datagram may carry several messages, and
   * what does not fit the buffer is cut off and lost, so it must hold the largest datagram.
   */
  readonly snapLength?: number;
  /** Netlink socket receive buffer (default 4 MiB: thousands of messages). */
  readonly bufferBytes?: number;
  readonly bufferTimeoutMs?: number;
  readonly statsIntervalMs?: number;
  /** First restart delay after a worker death; doubles up to 30 s (default 1000 ms). */
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
  readonly workerRestarts: number;
  readonly frames: number;
  readonly events: number;
  readonly hits: number;
  /** Logged by a rule that is not a trap of ours (someone else's rule on our group). */
  readonly foreign: number;
  /** Hits whose port and flags could not be decoded (named from the IP header alone). */
  readonly undecoded: number;
  readonly drops: Readonly<Record<string, number>>;
  readonly ipcDropped: number;
  readonly kernelDropped: number;
  /** Gaps reported through onGap. */
  readonly gaps: number;
}

export interface KernelTrapSensor {
  readonly group: number;
  stats(): KernelTrapSensorStats;
  /** Ends the worker (the kernel unbinds the group). Disarm the trap first. */
  close(): Promise<void>;
}

export type OpenKernelTrapSensorResult =
  | { readonly ok: true; readonly sensor: KernelTrapSensor }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

const DEFAULTS = {
  readyTimeoutMs: 10_000,
  snapLength: 65_535,
  bufferBytes: 4 << 20,
  bufferTimeoutMs: 1,
  statsIntervalMs: 1000,
  restartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
  stopGraceMs: 2000,
} as const;

const ZERO: NflogCounters = { frames: 0, events: 0, drops: {}, ipcDropped: 0, kernelDropped: 0 };

/** Opens the NFLOG reader; resolves once the group is bound (or could not be). */
export async function openKernelTrapSensor(
  params: KernelTrapSensorParams,
  options: KernelTrapSensorOptions = {},
): Promise<OpenKernelTrapSensorResult> {
  if (!Number.isInteger(params.group) || params.group < 0 || params.group > 65535) {
    return { ok: false, error: `NFLOG group ${params.group} is not 0-65535`, permission: false };
  }
  const sensor = new NflogSensor(params, options);
  const r = await sensor.startWorker();
  if (!r.ok) {
    await sensor.close();
    return r;
  }
  return { ok: true, sensor };
}

interface Running {
  readonly child: ChildProcess;
  counters: NflogCounters;
  stderrTail: string;
  stopping: boolean;
  readonly exited: Promise<void>;
}

class NflogSensor implements KernelTrapSensor {
  readonly group: number;
  readonly #p: KernelTrapSensorParams;
  readonly #o: KernelTrapSensorOptions;
  readonly #monoMs: () => number;
  readonly #plan: NflogPlan;
  readonly #workerPath: string;
  #running: Running | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restartDelayMs: number;
  #closed = false;
  #restarts = 0;
  #hits = 0;
  #foreign = 0;
  #undecoded = 0;
  #gaps = 0;
  /** Counters of workers that have exited. */
  #retired: NflogCounters = ZERO;

  constructor(params: KernelTrapSensorParams, options: KernelTrapSensorOptions) {
    this.group = params.group;
    this.#p = params;
    this.#o = options;
    this.#monoMs = params.monoMs ?? (() => performance.now());
    this.#restartDelayMs = options.restartDelayMs ?? DEFAULTS.restartDelayMs;
    this.#workerPath = options.workerPath ?? fileURLToPath(new URL("./nflog-worker.js", import.meta.url));
    this.#plan = {
      device: `nflog:${params.group}`,
      snapLength: options.snapLength ?? DEFAULTS.snapLength,
      bufferBytes: options.bufferBytes ?? DEFAULTS.bufferBytes,
      bufferTimeoutMs: options.bufferTimeoutMs ?? DEFAULTS.bufferTimeoutMs,
      statsIntervalMs: options.statsIntervalMs ?? DEFAULTS.statsIntervalMs,
    };
  }

  stats(): KernelTrapSensorStats {
    const c = this.#running?.counters ?? ZERO;
    const r = this.#retired;
    return {
      workerRestarts: this.#restarts,
      frames: r.frames + c.frames,
      events: r.events + c.events,
      hits: this.#hits,
      foreign: this.#foreign,
      undecoded: this.#undecoded,
      drops: addDrops(r.drops, c.drops),
      ipcDropped: r.ipcDropped + c.ipcDropped,
      kernelDropped: r.kernelDropped + c.kernelDropped,
      gaps: this.#gaps,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    const running = this.#running;
    if (running === undefined) return;
    running.stopping = true;
    try {
      running.child.send({ t: "stop" });
    } catch {
      running.child.kill("SIGTERM");
    }
    const timer = setTimeout(() => running.child.kill("SIGKILL"), DEFAULTS.stopGraceMs);
    await running.exited;
    clearTimeout(timer);
  }

  /** Forks a worker and waits until it has bound the group. */
  startWorker(): Promise<{ ok: true } | { ok: false; error: string; permission: boolean }> {
    const child = fork(this.#workerPath, [], {
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      execArgv: [],
    });
    let resolveExited: () => void = () => {};
    const running: Running = {
      child,
      counters: ZERO,
      stderrTail: "",
      stopping: false,
      exited: new Promise<void>((r) => {
        resolveExited = r;
      }),
    };
    this.#running = running;
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      running.stderrTail = (running.stderrTail + chunk).slice(-2000);
    });
    child.on("error", () => {}); // reported through 'exit'
    // Gone = exited and its IPC channel drained ('exit' can come before the last messages).
    let status: { code: number | null; signal: string | null } | undefined;
    let disconnected = !child.connected;
    let gone = false;
    const maybeGone = () => {
      if (status === undefined || !disconnected || gone) return;
      gone = true;
      this.#onExit(running, status.code, status.signal);
      resolveExited();
    };
    child.on("disconnect", () => {
      disconnected = true;
      maybeGone();
    });
    child.on("exit", (code, signal) => {
      status = { code, signal };
      disconnected ||= !child.connected;
      maybeGone();
    });

    return new Promise((resolve) => {
      const timeoutMs = this.#o.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs;
      let settled = false;
      const finish = (r: { ok: true } | { ok: false; error: string; permission: boolean }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!r.ok) {
          running.stopping = true;
          child.kill("SIGKILL");
        }
        resolve(r);
      };
      const timer = setTimeout(
        () => finish({ ok: false, error: `NFLOG reader not ready after ${timeoutMs} ms`, permission: false }),
        timeoutMs,
      );
      child.on("message", (m: unknown) => {
        if (!isNflogWorkerMessage(m)) return;
        switch (m.t) {
          case "ready":
            if (m.ok) finish({ ok: true });
            else finish({ ok: false, error: `${this.#plan.device}: ${m.error}`, permission: m.permission });
            break;
          case "events":
            for (const e of m.events) if (isNflogEvent(e)) this.#onEvent(e);
            break;
          case "stats":
            this.#onStats(running, m.counters);
            break;
        }
      });
      void running.exited.then(() =>
        finish({
          ok: false,
          error: `NFLOG reader exited before it was ready${tail(running.stderrTail)}`,
          permission: false,
        }),
      );
      try {
        child.send({ t: "open", plan: this.#plan });
      } catch {
        // 'exit' follows
      }
    });
  }

  #onEvent(e: NflogEvent): void {
    const mode = modeOfPrefix(e.prefix);
    if (mode === undefined) {
      this.#foreign++;
      return;
    }
    const tcp = mode === "stcp" || mode === "atcp";
    let classification: string;
    if (e.protocol === 6) classification = classifyTcp(e.tcpFlags).name;
    else if (e.protocol === 17) classification = UDP_SCAN.name;
    else {
      this.#undecoded++;
      classification = tcp ? UNDECODED_TCP : UDP_SCAN.name;
    }
    this.#hits++;
    const hit: Hit = {
      mode,
      address: e.address,
      family: e.family,
      port: e.port,
      classification,
      ipOptions: e.ipOptions,
      nowMs: this.#monoMs(),
      kernelBlocked: true,
    };
    try {
      this.#p.onHit(hit);
    } catch (err) {
      this.#p.log.error(`adminalert: ERROR: kernel trap hit handler failed: ${(err as Error).message}`);
    }
  }

  #onStats(running: Running, next: NflogCounters): void {
    const before = running.counters;
    running.counters = next;
    if (next.kernelDropped > before.kernelDropped)
      this.#gap(`the kernel dropped ${next.kernelDropped - before.kernelDropped} NFLOG messages`);
    if (next.ipcDropped > before.ipcDropped)
      this.#gap(`${next.ipcDropped - before.ipcDropped} NFLOG events did not reach the daemon`);
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#p.log.warn(`adminalert: WARNING: kernel trap: ${reason}; checking the kernel's blocks`);
    try {
      this.#p.onGap?.(reason);
    } catch (err) {
      this.#p.log.error(`adminalert: ERROR: kernel trap gap handler failed: ${(err as Error).message}`);
    }
  }

  #onExit(running: Running, code: number | null, signal: string | null): void {
    const c = running.counters;
    const r = this.#retired;
    this.#retired = {
      frames: r.frames + c.frames,
      events: r.events + c.events,
      drops: addDrops(r.drops, c.drops),
      ipcDropped: r.ipcDropped + c.ipcDropped,
      kernelDropped: r.kernelDropped + c.kernelDropped,
    };
    running.counters = ZERO;
    if (this.#running === running) this.#running = undefined;
    if (running.stopping || this.#closed) return;
    this.#p.log.error(
      `adminalert: ERROR: kernel trap: NFLOG reader exited (${signal ?? `code ${code}`})${tail(running.stderrTail)}; restarting`,
    );
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer !== undefined) return;
    const delayMs = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delayMs * 2, DEFAULTS.maxRestartDelayMs);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarts++;
      void this.startWorker().then((r) => {
        if (this.#closed) return;
        if (!r.ok) {
          this.#p.log.error(`adminalert: ERROR: kernel trap: ${r.error}; retrying`);
          this.#scheduleRestart();
          return;
        }
        this.#restartDelayMs = this.#o.restartDelayMs ?? DEFAULTS.restartDelayMs;
        this.#gap("the NFLOG reader was restarted");
      });
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

function tail(text: string): string {
  const t = text.trim().split("\n").slice(-3).join(" | ");
  return t ? `: ${t.slice(-500)}` : "";
}
