/** What `portsentry replay` is given and what it reports: options, events, the summary. */

import type { Config } from "../config/types.js";
import type { IpFamily } from "../decode/address.js";
import type { ScanKind } from "../detect/classify.js";
import type { SiftDrop } from "../detect/probe-rules.js";
import type { LogLevelName } from "../log/logger.js";
import type { Decision } from "../policy/policy.js";
import type { StealthMode } from "../port-set.js";
import type { PlannedStep } from "../respond/dry-run.js";
import type { Mode, Protocol } from "../vocabulary.js";

/** The daemon's table sizes and log windows (src/limits.ts), passed in so both agree. */
export interface ReplayLimits {
  readonly maxSources: number;
  readonly maxBlocks: number;
  readonly repeatLogWindowMs: number;
  readonly maxRepeatEntries: number;
  readonly probationCapacity: number;
  readonly probationMemoryMs: number;
}

export interface ReplayOptions {
  readonly config: Config;
  /** At most one TCP and one UDP stealth/advanced mode. */
  readonly modes: readonly StealthMode[];
  /** The ignore file and loopback (this host's addresses are added here). */
  readonly isIgnored: (address: string) => boolean;
  /** This host's addresses; undefined: inferred from the capture. */
  readonly localAddresses: readonly string[] | undefined;
  readonly limits: ReplayLimits;
  /** How long (capture time) a probe waits for this host's answer; default 1000 ms. */
  readonly replyWindowMs?: number;
  /** Probes waiting for an answer; beyond it the oldest goes on unanswered. Default 16 384. */
  readonly maxPendingProbes?: number;
  /** Cap on inferred local addresses. Default 256 (the live filter's cap per family). */
  readonly maxInferredAddresses?: number;
}

/** What this host answered to a probe, as far as the capture tells. */
export type Answer = "rst" | "icmp-unreachable" | "none";

export type ReplayEvent =
  /** An admitted hit: the live `attackalert` line, and what policy decided. */
  | {
      readonly type: "detection";
      readonly tsUs: number;
      readonly address: string;
      readonly family: IpFamily;
      readonly mode: Mode;
      readonly proto: Protocol;
      readonly port: number;
      readonly classification: string;
      readonly scan: ScanKind;
      readonly ipOptions: boolean;
      /**
       * "rst" (TCP) or "icmp-unreachable" (UDP): the host's answer proves no listener; "none":
       * no answer in the capture.
       */
      readonly answer: Answer;
      readonly verified: boolean;
      readonly decision: Decision["kind"];
      readonly message: string;
    }
  /** Any other line the live daemon would log for the hit (IP options, already blocked, …). */
  | { readonly type: "log"; readonly tsUs: number; readonly level: LogLevelName; readonly message: string }
  /** A block the live daemon would have put in force. */
  | {
      readonly type: "block";
      readonly tsUs: number;
      readonly address: string;
      readonly family: IpFamily;
      readonly mode: Mode;
      readonly port: number;
      /** 1: the block chain; 2: KILL_RUN_CMD only. */
      readonly level: 1 | 2;
      /** 0: forever. */
      readonly banSec: number;
      readonly steps: readonly PlannedStep[];
      readonly message: string;
    }
  /** A block that BLOCK_TIMEOUT would have lifted before a later hit. */
  | { readonly type: "expiry"; readonly tsUs: number; readonly address: string; readonly message: string };

export type BlockEventBody = Omit<Extract<ReplayEvent, { type: "block" }>, "tsUs">;

/** Reasons a frame or probe did not become a hit, besides the decoder's statuses. */
export type ReplayDrop =
  | SiftDrop
  /** This host's SYN+ACK (or a UDP datagram back) answered the probe: a listener, not a trap. */
  | "answered-by-listener"
  /** Unanswered, to a port whose last answer was SYN+ACK: taken for a listener. */
  | "listener-inferred"
  /** From this host and answering no pending probe. */
  | "own-unpaired"
  /** DETECT_ACK_SCANS: an ACK-bearing probe this host did not answer with RST. */
  | "ack-unanswered"
  /** Advanced mode: the port had a listener within LISTEN_GRACE. */
  | "listen-grace"
  /** A TCP or UDP checksum that does not add up: the kernel discards the packet. */
  | "bad-checksum";

export interface ReplaySummary {
  readonly modes: readonly StealthMode[];
  readonly localAddresses: readonly string[];
  readonly localFrom: "option" | "inferred";
  readonly frames: number;
  readonly decoded: number;
  /** Probe candidates: to a watched port of this host, not part of a conversation. */
  readonly probes: number;
  /** Candidates paired with this host's RST or SYN+ACK (or UDP answer). */
  readonly answered: number;
  /** Probes that reached the pipeline (not a listener's). */
  readonly hits: number;
  /** Hits from ignored sources (ignore file, loopback, this host). */
  readonly ignored: number;
  /** Admitted hits: one `attackalert` line each. */
  readonly detections: number;
  /** Detections with no answer in the capture. */
  readonly unverified: number;
  readonly wouldBlock: number;
  /** New blocks refused by MAX_BLOCKS_PER_MINUTE. */
  readonly heldBack: number;
  readonly expiries: number;
  /** Hits that repeat their source's previous port: a noisy neighbour rather than a port walk. */
  readonly samePortRepeats: number;
  /** Hosts blocked at the end of the capture: the first `MAX_LISTED_BLOCKS` (`blockedCount` in all). */
  readonly blocked: readonly string[];
  readonly blockedCount: number;
  /**
   * What the bounded tables let go (house style 2; the daemon's sizes): `sources` forgotten by
   * the trigger table, `blocksRefused` new blocks refused because the table of blocks was full,
   * `offences` hosts whose block count was forgotten, `pendingProbes` probes sent on unanswered
   * because too many waited.
   */
  readonly evictions: {
    readonly sources: number;
    readonly blocksRefused: number;
    readonly offences: number;
    readonly pendingProbes: number;
    /** Fragmented headers given up incomplete (cap or timeout). */
    readonly fragments: number;
    /** Flows this host started, forgotten before their idle time (cap). */
    readonly ownFlows: number;
  };
  readonly drops: Readonly<Record<string, number>>;
  readonly firstTsUs: number | undefined;
  readonly lastTsUs: number | undefined;
}
