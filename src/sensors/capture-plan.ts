/**
 * What the capture sensor (capture-sensor.ts) gives a capture engine (capture-engine.ts), and
 * what the engine reports back besides its records (probe-record.ts). Pure.
 */

/** Everything an engine needs; one plan per engine ("generation"), never changed. */
export interface CapturePlan {
  readonly interfaces: readonly string[];
  readonly filter: string;
  /** Watched ports as inclusive [from, to] runs, the same set as the filter. */
  readonly tcpRanges: readonly (readonly [number, number])[] | undefined;
  readonly udpRanges: readonly (readonly [number, number])[] | undefined;
  /** This host's addresses: packets from them are not probes. */
  readonly ownAddresses: readonly string[];
  /** DETECT_ACK_SCANS: ACK-bearing packets (no RST) to watched ports are candidates too. */
  readonly ackScans: boolean;
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
