/**
 * What the capture worker (a child process, see capture-worker.ts) and the sensor in the daemon
 * say to each other over the IPC channel. Pure.
 *
 * Probe candidates travel in batches of fixed 32-byte records, one IPC message per batch:
 *
 *   0 u8  interface index (into the plan's list)   6 u16 destination port (LE)
 *   1 u8  IP family (4 / 6)                         8 f64 capture time, µs since the epoch (LE)
 *   2 u8  protocol (6 / 17)                        16 16 bytes source address (4 used for IPv4)
 *   3 u8  TCP flags (0 for UDP)
 *   4 u8  1 when IPv4 options were set
 *   5 u8  1 when this host answered the (TCP) probe with RST: no listener, no /proc check needed
 */

export const RECORD_BYTES = 32;

/** Everything the worker needs; one plan per worker ("generation"), never changed. */
export interface CapturePlan {
  readonly interfaces: readonly string[];
  readonly filter: string;
  /** Watched ports as inclusive [from, to] runs, the same set as the filter. */
  readonly tcpRanges: readonly (readonly [number, number])[] | undefined;
  readonly udpRanges: readonly (readonly [number, number])[] | undefined;
  /** This host's addresses: packets from them are not probes. */
  readonly ownAddresses: readonly string[];
  readonly snapLength: number;
  readonly bufferBytes: number;
  readonly bufferTimeoutMs: number;
  /** Immediate mode under load: each read waits this long first (see capture.ts). */
  readonly holdUnderLoadMs: number;
  /** How often the worker reports its counters. */
  readonly statsIntervalMs: number;
}

export interface InterfaceStats {
  readonly name: string;
  /** Packets that passed the kernel filter (libpcap ps_recv). */
  readonly received: number;
  /** Dropped because the ring was full (ps_drop): kernel drops. */
  readonly dropped: number;
  /** Dropped by the interface or driver (ps_ifdrop), where the kernel reports it. */
  readonly ifDropped: number;
}

export interface WorkerCounters {
  readonly frames: number;
  readonly decoded: number;
  readonly candidates: number;
  /** Our own RST / SYN+ACK paired with a pending TCP probe. */
  readonly replies: number;
  /** Frames dropped by reason: decoder statuses and the worker's own checks. */
  readonly drops: Readonly<Record<string, number>>;
}

export type WorkerMessage =
  | { readonly t: "ready"; readonly opened: readonly string[]; readonly failed: readonly OpenFailure[] }
  | { readonly t: "hits"; readonly b: Uint8Array; readonly n: number }
  /** Sent once before "ready": runs the batch (de)serialization once; carries nothing. */
  | { readonly t: "warm"; readonly b: Uint8Array }
  | {
      readonly t: "stats";
      readonly counters: WorkerCounters;
      readonly interfaces: readonly InterfaceStats[];
    }
  | { readonly t: "fatal"; readonly error: string };

export interface OpenFailure {
  readonly name: string;
  readonly error: string;
  /** The capture needs a capability we lack: no use trying other interfaces. */
  readonly permission: boolean;
}

export type ParentMessage = { readonly t: "open"; readonly plan: CapturePlan } | { readonly t: "stop" };

/** Loose runtime check of what arrives over IPC (the worker is ours, but never trust shape). */
export function isWorkerMessage(m: unknown): m is WorkerMessage {
  if (typeof m !== "object" || m === null) return false;
  const t = (m as { t?: unknown }).t;
  switch (t) {
    case "ready":
      return (
        Array.isArray((m as { opened?: unknown }).opened) && Array.isArray((m as { failed?: unknown }).failed)
      );
    case "hits":
      return (m as { b?: unknown }).b instanceof Uint8Array && typeof (m as { n?: unknown }).n === "number";
    case "warm":
      return (m as { b?: unknown }).b instanceof Uint8Array;
    case "stats":
      return typeof (m as { counters?: unknown }).counters === "object";
    case "fatal":
      return typeof (m as { error?: unknown }).error === "string";
    default:
      return false;
  }
}

export function isParentMessage(m: unknown): m is ParentMessage {
  if (typeof m !== "object" || m === null) return false;
  const t = (m as { t?: unknown }).t;
  return (t === "open" && typeof (m as { plan?: unknown }).plan === "object") || t === "stop";
}
