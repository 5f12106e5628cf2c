/**
 * The daemon's tunables that are not config keys, in one place, each with the reason for its
 * value (the config keys and their defaults are in src/config/keys.ts). Replay gets the same
 * table sizes, so that a capture replayed offline is judged with the live daemon's bounds.
 */
export const LIMITS = {
  /**
   * Sources whose hits are counted towards SCAN_TRIGGER at once; the least recently seen is
   * evicted past it (and counted). 16 384 × ~100 bytes ≈ 1.6 MiB: a forged flood cannot grow it.
   */
  maxSources: 16_384,
  /** Blocks in force at once; past it a new block is refused (the nft sets hold as many). */
  maxBlocks: 100_000,
  /** "Already blocked", "held back" and "never blocked" lines: at most one per host and window. */
  repeatLogWindowMs: 60_000,
  /** Hosts remembered for that window (an LRU): bounds it under a forged sweep. */
  maxRepeatEntries: 4096,
  /** This host's addresses, gateways and name servers are re-read when older than this. */
  hostFactsMaxAgeMs: 1_000,
  /** A host stays a repeat offender (BLOCK_TIMEOUT_GROWTH) this long after its last block. */
  offenderMemoryMs: 30 * 86_400_000,
  /** The kernel trap's never-trapped sets follow this host's addresses within this time. */
  kernelHostFactsRefreshMs: 2_000,
  /** `nft flush ruleset` removes the trap; the daemon looks for it and puts it back this often. */
  kernelTrapRearmCheckMs: 10_000,
  /**
   * Probes the kernel trap lets through past its block limit are reported through NFLOG at
   * most this many a second (one bucket for both protocols): the daemon judges and logs them
   * (a real scanner during a forged flood), and a flood costs it no more than this.
   */
  kernelOverLimitReportsPerSec: 200,
  /**
   * PROBATION_TIMEOUT: sources the daemon remembers as put on probation (a second probe makes
   * a repeat offender); past it the least recently put on is forgotten (and counted). 16 384 ×
   * ~150 bytes ≈ 2.4 MiB. The kernel's probation sets hold more (KERNEL_PROBATION_SET_SIZE).
   */
  probationCapacity: 16_384,
  /** A source stays a known repeat offender this long after its probation began. */
  probationMemoryMs: 86_400_000,
  /**
   * Probes the kernel trap puts on probation are reported through NFLOG at most this many a
   * second; the rest are dropped and counted in the kernel only (`tally_probations`).
   */
  kernelProbationReportsPerSec: 500,
  /**
   * Log-only modes in the kernel: probes from sources not seen lately are reported through
   * NFLOG at most this many a second (others at kernelOverLimitReportsPerSec); every probe is
   * counted in the kernel (`tally_probes`). More than the log prints (LOG_RATE_LIMITS).
   */
  kernelSeenReportsPerSec: 500,
  /** ... and a source stays seen this long: its next probes are reported as a repeat's. */
  kernelSeenSec: 60,
} as const;

/** The part of LIMITS that the stages (and replay) need. */
export interface StageLimits {
  readonly maxSources: number;
  readonly maxBlocks: number;
  readonly repeatLogWindowMs: number;
  readonly maxRepeatEntries: number;
  readonly probationCapacity: number;
  readonly probationMemoryMs: number;
}

/** The capture sensor (stealth and advanced modes). */
export const CAPTURE_LIMITS = {
  /** Records a capture read hands over in one batch: one buffer of 128 KiB. */
  recordsPerBatch: 4096,
  /** Probes waiting for the kernel's answer; the oldest is sent on unanswered when full. */
  pendingProbes: 16_384,
  /** The kernel answers within microseconds; past this a probe goes on unanswered (to /proc). */
  replyWaitMs: 5,
  /**
   * Rounds of synthetic frames through a throwaway engine at start: enough to compile every
   * function on the path, too few for V8 to optimize them on synthetic data (optimized code
   * that real frames then invalidate costs more than it saves).
   */
  warmUpRounds: 20,
  /** Records waiting for a listener snapshot; past it a batch is dropped and counted. */
  maxPendingRecords: 262_144,
  /** Capture → hit latencies kept for `status`. */
  latencySamples: 4096,
  /** Interfaces and addresses re-read this often (a change opens the next capture generation). */
  pollIntervalMs: 2000,
  /** ... and this often while there is nothing to capture (an interface may come up any moment). */
  idlePollIntervalMs: 250,
  /** Listeners re-read to rebuild the filter's holes (each probe is checked anyway). */
  listenerPollIntervalMs: 10_000,
  /** A capture that failed is re-opened after this, doubling up to the next. */
  firstRestartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
} as const;

/**
 * Flows this host started (detect/own-flows.ts): a packet of one, from the peer, is a reply,
 * never a probe. Idle times follow conntrack's spirit: a UDP exchange is over in seconds, but a
 * late answer (an NTP server's, a resolver's retry) still belongs to it; a TCP connection we
 * opened is refreshed by each SYN we send and kept for its late segments.
 */
export const OWN_FLOW_LIMITS = {
  /** Flows remembered; 16 384 × 30 bytes = 480 KiB. Past it the least recently seen of a probe window goes. */
  capacity: 16_384,
  /** A UDP reply this long after our last datagram to that peer is still a reply (conntrack: 30/120 s). */
  udpIdleMs: 180_000,
  /** A TCP segment this long after our SYN is still of our connection (conntrack's close_wait is 60 s, established 5 days: the table's cap bounds it). */
  tcpIdleMs: 2 * 3_600_000,
} as const;

/** Fragmented headers put back together (decode/fragments.ts). */
export const FRAGMENT_LIMITS = {
  /** Datagrams waiting for the rest of their header; 4096 × 119 bytes = 476 KiB. */
  capacity: 4096,
  /** The kernel's ipfrag_time (30 s): it would reassemble no later. */
  timeoutMs: 30_000,
} as const;

/** Hits that repeat their source's previous port (detect/repeated-ports.ts). */
export const REPEAT_LIMITS = {
  /** Sources whose last port is kept: a count for operators, so a small table suffices. */
  maxSources: 4096,
} as const;

/** `portsentry replay`. */
export const REPLAY_LIMITS = {
  /** How long (capture time) a probe waits for this host's answer in a capture. */
  replyWindowMs: 1000,
  /** Local ports whose last answer is remembered (replay has no /proc to ask). */
  portMemory: 262_144,
  /** Addresses listed in the summary's `blocked`: a sweep may leave 100 000 blocked. */
  maxListedBlocks: 1000,
  /** Local addresses inferred from a capture: the live filter's cap per family. */
  maxInferredAddresses: 256,
  /** Frames between two chances for the output to drain (the cost of a check is nil). */
  framesPerPauseCheck: 256,
} as const;

/** `/metrics`' top sources and ports. */
export const TOP_LIMITS = {
  /** Slots kept: the dashboard shows 10; 32 keeps the 10th place honest at a 32-compare scan. */
  capacity: 32,
  /** Once the table is full, a key not in it is admitted at one miss in this many. */
  admitEvery: 16,
} as const;

/** Records (history, blocked file, hosts.deny, state rows) retried after a failed write. */
export const CATCH_UP_LIMITS = {
  /** Back-off of the retry loop: short enough to catch up soon, long enough not to spin. */
  firstMs: 1_000,
  maxMs: 30_000,
  /** Four records a block (state row, mark, history line, hosts.deny line) for 100 000 blocks. */
  maxRecords: 400_000,
} as const;

/** The control socket (its wire protocol is control/protocol.ts). */
export const CONTROL_LIMITS = {
  /** Longest request line the server reads (bytes, without the newline). */
  maxRequestBytes: 64 * 1024,
  /** Longest response line the client reads: 100 000 blocks of about 120 bytes fit. */
  maxResponseBytes: 32 * 1024 * 1024,
  /**
   * Connections served at once. When all are taken, a new one takes the slot of the connection
   * idle longest, if that one has waited `evictIdleAfterMs` for a request; else it is answered
   * `busy` and closed. So clients that connect and say nothing cannot lock `status` out.
   */
  maxConnections: 16,
  /** A connection idle this long gives its slot up to a new one when all slots are taken. */
  evictIdleAfterMs: 500,
  /** A connection that sends no complete request for this long is closed. */
  idleTimeoutMs: 10_000,
  /** A handler that has not answered by then gets a `timeout` error response. */
  handlerTimeoutMs: 15_000,
  /** Addresses one unblock request may carry (a 64 KiB line holds about 1 500 IPv6 addresses). */
  maxAddresses: 1024,
} as const;

/**
 * Log lines: per source at most `perKey` a window, all sources together at most `total` (6 000
 * a minute: syslog and a disk keep up, a flood cannot fill either); `maxKeys` sources tracked.
 */
export const LOG_RATE_LIMITS = { windowMs: 60_000, perKey: 10, total: 6000, maxKeys: 4096 } as const;

/** RESOLVE_HOST: a slow resolver never delays a block, only the line's name. */
export const RESOLVER_LIMITS = {
  /** A look-up that takes longer is given up (the address is shown). */
  timeoutMs: 2000,
  /** Names cached, and for how long. */
  maxCached: 4096,
  ttlMs: 3_600_000,
  /** Look-ups in flight at once; past it an address is shown as it is. */
  maxPending: 64,
} as const;

/** The kernel trap's NFLOG reader. */
export const NFLOG_LIMITS = {
  /** A report is at most a packet; the kernel copies `snaplen` bytes of it (the rule's). */
  snapLength: 65_535,
  /** The kernel's buffer for reports: thousands of them between two reads. */
  bufferBytes: 4 << 20,
  bufferTimeoutMs: 1,
  /** Kernel drop counters read this often (a gap makes the daemon reconcile with nftables). */
  statsIntervalMs: 1000,
  /** A reader that failed is re-opened after this, doubling up to the next. */
  restartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
} as const;

/** The fleet (FLEET_URL): what a member asks of Redis, and what it takes from it. */
export const FLEET_LIMITS = {
  /**
   * The event stream is trimmed (MAXLEN ~) to about this many entries: a member away for
   * longer than 100 000 blocks and unblocks starts again from the set of current blocks.
   */
  streamMaxLength: 100_000,
  /** Events read per XREAD; the read blocks at most `readBlockMs` so a stop is prompt. */
  readCount: 256,
  readBlockMs: 2000,
  /** A command (the blocked XREAD included) with no answer within this fails; so does a connect. */
  commandTimeoutMs: 5000,
  /** An event larger than this (all fields together), or with more fields, is dropped and counted. */
  maxEventBytes: 1024,
  maxEventFields: 16,
  /** Unpublished local events kept in the outbox; past it the oldest is dropped (counted). */
  maxOutbox: 65_536,
  /** Trap hits sent to the fleet trigger: one script call per batch, at most this often. */
  reportIntervalMs: 100,
  /**
   * Hits in one report: at most 10 calls a second × 64 hits, so a spoofed flood costs Redis at
   * most 640 hit operations a second per member, whatever its rate; the rest are counted.
   */
  maxHitsPerReport: 64,
  /** Distinct (member, port) hits kept per source in Redis (a sorted set with an expiry). */
  maxHitsPerSource: 64,
  /** Reconnection delay, doubling up to the second. */
  reconnectDelayMs: 100,
  maxReconnectDelayMs: 5000,
  /** Current blocks read at once from the set when a member (re)joins. */
  snapshotBatch: 1000,
} as const;

/** Monitors that say when to re-check instead of a timer (sensors/command-feed.ts): host facts, the trap. */
export const CHANGE_FEEDS = {
  /** One added address or a flushed ruleset brings several lines: they are one change after this. */
  coalesceMs: 50,
} as const;
