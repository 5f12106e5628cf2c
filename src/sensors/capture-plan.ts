/**
 * What the stealth sensor (stealth.ts) gives a capture engine (capture-engine.ts), and the
 * fixed-size records the engine hands back. Pure.
 *
 * Probe candidates come in batches of fixed 32-byte records:
 *
 *   0 u8  interface index (into the plan's list)   6 u16 destination port (LE)
 *   1 u8  IP family (4 / 6)                         8 f64 capture time, µs since the epoch (LE)
 *   2 u8  protocol (6 / 17)                        16 16 bytes source address (4 used for IPv4)
 *   3 u8  TCP flags (0 for UDP)
 *   4 u8  1 when IPv4 options were set
 *   5 u8  1 when this host answered the probe with RST or ICMP port unreachable: no listener,
 *         no /proc check needed
 */

export const RECORD_BYTES = 32;

/** Everything an engine needs; one plan per engine ("generation"), never changed. */
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

export interface EngineCounters {
  readonly frames: number;
  readonly decoded: number;
  readonly candidates: number;
  /** Our own RST / SYN+ACK / ICMP port unreachable paired with a pending probe. */
  readonly replies: number;
  /** Frames dropped by reason: decoder statuses and the engine's own checks. */
  readonly drops: Readonly<Record<string, number>>;
}

export interface OpenFailure {
  readonly name: string;
  readonly error: string;
  /** The capture needs a capability we lack: no use trying other interfaces. */
  readonly permission: boolean;
}
