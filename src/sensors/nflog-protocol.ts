/**
 * What the NFLOG worker (nflog-worker.ts) and the kernel-trap sensor say to each other over
 * the IPC channel. Pure. Events are plain objects: their number is bounded by the trap's rate
 * limit (one per kernel block), so there is no need for the capture worker's packed records.
 */

export interface NflogPlan {
  /** libpcap device, `nflog:<group>`. */
  readonly device: string;
  readonly snapLength: number;
  readonly bufferBytes: number;
  readonly bufferTimeoutMs: number;
  readonly statsIntervalMs: number;
}

/** One logged packet: a probe the kernel dropped and whose source it blocked. */
export interface NflogEvent {
  /** The rule's log prefix (which trap matched). */
  readonly prefix: string;
  readonly family: 4 | 6;
  /** Canonical text of the source address. */
  readonly address: string;
  /** 6 or 17; 0 when the transport header could not be decoded. */
  readonly protocol: 0 | 6 | 17;
  /** Destination port; 0 when not decoded. */
  readonly port: number;
  readonly tcpFlags: number;
  readonly ipOptions: boolean;
  /** Capture time, µs since the epoch (libpcap's, for latency figures). */
  readonly tsUs: number;
  /** "ok", or the decoder's reason when only the IP header could be read. */
  readonly decode: string;
}

export interface NflogCounters {
  /** Frames libpcap delivered. */
  readonly frames: number;
  readonly events: number;
  /** Frames with no usable source address, by reason: a block nobody can name (rare). */
  readonly drops: Readonly<Record<string, number>>;
  /** Events that did not fit the IPC channel (the daemon reconciles with the kernel set). */
  readonly ipcDropped: number;
  /** Netlink messages the kernel could not queue to us (libpcap ps_drop: ENOBUFS). */
  readonly kernelDropped: number;
}

export type NflogWorkerMessage =
  | { readonly t: "ready"; readonly ok: true; readonly linkType: number }
  | { readonly t: "ready"; readonly ok: false; readonly error: string; readonly permission: boolean }
  | { readonly t: "events"; readonly events: readonly NflogEvent[] }
  | { readonly t: "stats"; readonly counters: NflogCounters };

export type NflogParentMessage = { readonly t: "open"; readonly plan: NflogPlan } | { readonly t: "stop" };

function isObject(m: unknown): m is Record<string, unknown> {
  return typeof m === "object" && m !== null;
}

export function isNflogWorkerMessage(m: unknown): m is NflogWorkerMessage {
  if (!isObject(m)) return false;
  switch (m.t) {
    case "ready":
      return typeof m.ok === "boolean";
    case "events":
      return Array.isArray(m.events);
    case "stats":
      return isObject(m.counters);
    default:
      return false;
  }
}

export function isNflogParentMessage(m: unknown): m is NflogParentMessage {
  if (!isObject(m)) return false;
  return (m.t === "open" && isObject(m.plan)) || m.t === "stop";
}

/** Shape check of one event from the worker (ours, but never trust shape across IPC). */
export function isNflogEvent(e: unknown): e is NflogEvent {
  return (
    isObject(e) &&
    typeof e.prefix === "string" &&
    (e.family === 4 || e.family === 6) &&
    typeof e.address === "string" &&
    (e.protocol === 0 || e.protocol === 6 || e.protocol === 17) &&
    typeof e.port === "number" &&
    typeof e.tcpFlags === "number" &&
    typeof e.ipOptions === "boolean" &&
    typeof e.tsUs === "number" &&
    typeof e.decode === "string"
  );
}
