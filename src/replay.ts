/**
 * `portsentry replay`: the stealth and advanced modes run offline over a capture file. Each
 * frame goes through the live path's own rules (decodeFrame, then probe-rules.ts: own source,
 * reply, watched port, ACK/RST), then the real TriggerTable, Policy and Pipeline, with time
 * taken from the packets. The reactor only records what it would do: no command runs, no
 * firewall or file is touched. No I/O here: frames come in, events and a summary go out.
 *
 * What the capture itself must tell (see docs/replay.md):
 * - Listeners. Live, a TCP probe answered by this host's RST is a trap, one answered by
 *   SYN+ACK met a listener; an unanswered one is checked in /proc. Here the answer is looked
 *   for in the capture within `replyWindowMs` of capture time; an unanswered probe is a trap
 *   marked unverified, unless the last answer from that port said a socket listened. A UDP
 *   probe is answered by a datagram back from the probed port (a listener) or by this host's
 *   ICMP port unreachable (a trap), else unverified.
 * - This host's addresses: given (`--local`), or inferred as the hosts that answered a TCP
 *   probe with RST or SYN+ACK from the probed port (`inferLocalAddresses`).
 *
 * Hits reach the pipeline in capture order (a probe waits for its answer, and those behind it
 * wait for it), at their capture times, kept monotonic as a live clock would be.
 */

import type { Config } from "./config/types.js";
import type { IpFamily } from "./decode/address.js";
import {
  DECODE_STATUSES,
  type DecodeStatus,
  decodeFrame,
  formatDestination,
  formatSource,
  PacketFacts,
} from "./decode/packet.js";
import { isProbe, type ScanKind } from "./detect/classify.js";
import {
  isReply,
  ProbeSieve,
  probeClass,
  probeHit,
  replyMeansListening,
  type SiftDrop,
} from "./detect/probe-rules.js";
import { ProbeTracker, Verdict } from "./detect/probe-tracker.js";
import type { TriggerTable } from "./detect/trigger.js";
import type { Log, LogEvent, LogLevelName } from "./log/logger.js";
import * as msg from "./log/messages.js";
import type { BlockClaims, Pipeline, Reactions } from "./pipeline.js";
import type { Decision } from "./policy/policy.js";
import { reactionPlan } from "./policy/reaction-plan.js";
import { candidatePorts, type StealthMode } from "./port-set.js";
import { HostsDenyResponder } from "./respond/hosts-deny.js";
import { expandMacros } from "./respond/template.js";
import type { CapturedFrame } from "./sensors/pcap-file.js";
import { buildStages } from "./stages.js";
import { type BlockRecord, type Hit, type Mode, type Protocol, protocolOf } from "./vocabulary.js";

/** The daemon's table sizes and log windows (src/limits.ts), passed in so both agree. */
export interface ReplayLimits {
  readonly maxSources: number;
  readonly maxBlocks: number;
  readonly repeatLogWindowMs: number;
  readonly maxRepeatEntries: number;
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

/** One step of the reaction chain, in the order the live reactor would run it. */
export type PlannedStep =
  | { readonly method: "hosts.deny"; readonly file: string; readonly line: string }
  | { readonly method: "nftables" | "iptables" | "ipset" }
  | { readonly method: "route" | "command"; readonly command: string }
  | { readonly method: "route" | "command" | "hosts.deny"; readonly error: string };

type BlockEventBody = Omit<Extract<ReplayEvent, { type: "block" }>, "tsUs">;

/** Reasons a frame or probe did not become a hit, besides the decoder's statuses. */
export type ReplayDrop =
  | SiftDrop
  /** This host's SYN+ACK (or a UDP datagram back) answered the probe: a listener, not a trap. */
  | "answered-by-listener"
  /** Unanswered, to a port whose last answer was SYN+ACK: taken for a listener. */
  | "listener-inferred"
  /** From this host and answering no pending probe. */
  | "own-unpaired";

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
  };
  readonly drops: Readonly<Record<string, number>>;
  readonly firstTsUs: number | undefined;
  readonly lastTsUs: number | undefined;
}

// maxPendingProbes: the live capture engine's PENDING_PROBES (each waiting probe costs about 1 KiB).
const DEFAULTS = { replyWindowMs: 1000, maxPendingProbes: 16_384, maxInferredAddresses: 256 } as const;

/** Local ports whose last answer is remembered (replay has no /proc to ask). */
const PORT_MEMORY = 262_144;

/** Addresses listed in the summary's `blocked`: a sweep may leave 100 000 blocked. */
export const MAX_LISTED_BLOCKS = 1000;

/** Frames between two calls of `replayCaptureAsync`'s `pause` (the cost of a check is nil). */
const FRAMES_PER_PAUSE_CHECK = 256;

/**
 * This host's addresses as the capture shows them: every address that answered a TCP probe
 * (no ACK, no RST) with RST or SYN+ACK from the probed port to the probing one. A scanner's own
 * RSTs (to our SYN+ACK) answer no probe, so scanners are not taken for us; servers this host
 * connected to are (their SYN+ACK answers our SYN): harmless, since their packets to us are
 * not probes, but pass `--local` for captures of other traffic.
 */
export function inferLocalAddresses(
  frames: Iterable<CapturedFrame>,
  maxAddresses: number = DEFAULTS.maxInferredAddresses,
  maxTracked = 65_536,
): string[] {
  const f = new PacketFacts();
  const probes = new Map<string, true>();
  const found = new Set<string>();
  for (const frame of frames) {
    if (decodeFrame(frame.data, frame.linkType, f, frame.wireLength) !== "ok" || f.protocol !== 6) continue;
    if (isProbe(f.tcpFlags)) {
      const key = `${formatSource(f)} ${f.srcPort} ${formatDestination(f)} ${f.dstPort}`;
      probes.delete(key);
      if (probes.size >= maxTracked) {
        const oldest = probes.keys().next().value;
        if (oldest !== undefined) probes.delete(oldest);
      }
      probes.set(key, true);
    } else if (isReply(f.tcpFlags)) {
      const local = formatSource(f);
      if (found.has(local) || found.size >= maxAddresses) continue;
      if (probes.has(`${formatDestination(f)} ${f.dstPort} ${local} ${f.srcPort}`)) found.add(local);
    }
  }
  return [...found];
}

/**
 * Runs the replay: `frames()` is called once, or twice when local addresses are inferred.
 * Synchronous, so each would-block's settled reaction waits for the end of the run: for
 * captures of bounded size (tests, the bench); the CLI runs `replayCaptureAsync`.
 */
export function replayCapture(
  frames: () => Iterable<CapturedFrame>,
  options: ReplayOptions,
  onEvent: (event: ReplayEvent) => void,
): ReplaySummary {
  const given = options.localAddresses;
  const locals =
    given !== undefined && given.length > 0
      ? given
      : inferLocalAddresses(frames(), options.maxInferredAddresses ?? DEFAULTS.maxInferredAddresses);
  const engine = new ReplayEngine(options, locals, onEvent);
  for (const frame of frames()) engine.frame(frame);
  return engine.finish(given !== undefined && given.length > 0 ? "option" : "inferred");
}

/**
 * replayCapture for a consumer that can fall behind (stdout into a pipe): every few frames
 * `pause()` may return a promise, and reading waits for it, so that events never pile up in
 * memory faster than they are written. Memory stays bounded by the tables' sizes, whatever
 * the capture's (docs/replay.md).
 */
export async function replayCaptureAsync(
  frames: () => Iterable<CapturedFrame>,
  options: ReplayOptions,
  onEvent: (event: ReplayEvent) => void,
  pause: () => Promise<void> | undefined,
): Promise<ReplaySummary> {
  const given = options.localAddresses;
  const locals =
    given !== undefined && given.length > 0
      ? given
      : inferLocalAddresses(frames(), options.maxInferredAddresses ?? DEFAULTS.maxInferredAddresses);
  const engine = new ReplayEngine(options, locals, onEvent);
  let n = 0;
  for (const frame of frames()) {
    engine.frame(frame);
    // Every few frames the microtasks run too: each block's reaction is a promise settled
    // there, and a run that never yields would hold every one of them to the end.
    if (++n % FRAMES_PER_PAUSE_CHECK === 0) await (pause() ?? Promise.resolve());
  }
  return engine.finish(given !== undefined && given.length > 0 ? "option" : "inferred");
}

class ReplayEngine {
  readonly #o: ReplayOptions;
  readonly #onEvent: (event: ReplayEvent) => void;
  readonly #locals: readonly string[];
  readonly #sieve: ProbeSieve;
  readonly #tcpMode: StealthMode | undefined;
  readonly #udpMode: StealthMode | undefined;
  readonly #facts = new PacketFacts();
  /** The live path's probe engine, in capture order and capture time, with a memory of ports. */
  readonly #probes: ProbeTracker;
  readonly #blocks: DryRunBlocks;
  readonly #trigger: TriggerTable;
  #responds = 0;
  readonly #pipeline: Pipeline;
  readonly #log = new CollectingLog();
  readonly #reactor: DryRunReactor;
  /** Blocks the reactor recorded during the current hit, sent after its detection line. */
  readonly #pendingBlocks: BlockEventBody[] = [];
  /** Capture time now (max seen), and the pipeline's clock (monotonic). */
  #nowUs = Number.NEGATIVE_INFINITY;
  #clockMs = Number.NEGATIVE_INFINITY;
  #firstTsUs: number | undefined;
  #lastTsUs: number | undefined;
  readonly #c = {
    frames: 0,
    decoded: 0,
    probes: 0,
    answered: 0,
    hits: 0,
    ignored: 0,
    detections: 0,
    unverified: 0,
    wouldBlock: 0,
    heldBack: 0,
    expiries: 0,
  };
  readonly #drops: Record<string, number>;

  constructor(o: ReplayOptions, locals: readonly string[], onEvent: (event: ReplayEvent) => void) {
    this.#o = o;
    this.#onEvent = onEvent;
    this.#locals = locals;
    this.#tcpMode = o.modes.find((m) => m === "stcp" || m === "atcp");
    this.#udpMode = o.modes.find((m) => m === "sudp" || m === "audp");
    this.#sieve = new ProbeSieve({
      tcp: this.#tcpMode && candidatePorts(this.#tcpMode, o.config),
      udp: this.#udpMode && candidatePorts(this.#udpMode, o.config),
      ownAddresses: locals,
      checkDestination: true,
    });
    this.#probes = new ProbeTracker(
      {
        capacity: Math.max(1, o.maxPendingProbes ?? DEFAULTS.maxPendingProbes),
        replyWaitMs: o.replyWindowMs ?? DEFAULTS.replyWindowMs,
        inOrder: true,
        portMemory: PORT_MEMORY,
      },
      (slot, verdict, remembered) => this.#emit(slot, verdict, remembered),
    );
    const byStatus = Object.fromEntries(DECODE_STATUSES.filter((s) => s !== "ok").map((s) => [s, 0]));
    this.#drops = byStatus;

    const config = o.config;
    const own = new Set(locals);
    const isIgnored = (a: string) => own.has(a) || o.isIgnored(a);
    this.#blocks = new DryRunBlocks(o.limits.maxBlocks);
    this.#reactor = new DryRunReactor(config, (e) => this.#blockEvent(e));
    const stages = buildStages({
      config,
      limits: o.limits,
      queries: {
        isIgnored,
        // Gateways and name servers are facts of the host at run time, not of the capture.
        neverBlockReason: () => undefined,
        isBlocked: (a) => this.#blocks.has(a),
        priorOffences: (a) => this.#blocks.offences(a),
      },
      log: this.#log,
      registry: this.#blocks,
      reactor: this.#reactor,
      recordOffence: (address) => this.#blocks.recordOffence(address),
      wallClockMs: () => this.#clockMs,
    });
    this.#trigger = stages.trigger;
    this.#pipeline = stages.pipeline;
  }

  frame(frame: CapturedFrame): void {
    this.#c.frames++;
    const tsUs = frame.timestampUs;
    this.#firstTsUs ??= tsUs;
    this.#lastTsUs = tsUs;
    if (tsUs > this.#nowUs) this.#nowUs = tsUs;
    this.#probes.expire(this.#nowUs / 1000);
    const f = this.#facts;
    const status = decodeFrame(frame.data, frame.linkType, f, frame.wireLength);
    if (status !== "ok") {
      this.#drop(status);
      return;
    }
    this.#c.decoded++;
    const sifted = this.#sieve.sift(f);
    switch (sifted) {
      case "probe":
        this.#c.probes++;
        this.#probes.add(0, f, tsUs, this.#nowUs / 1000);
        break;
      case "reply":
        this.#reply(f, replyMeansListening(f) ? Verdict.Listening : Verdict.Closed);
        break;
      case "own-source":
        // A datagram back from a probed UDP port: a service answered.
        if (f.protocol === 17) this.#reply(f, Verdict.Listening);
        else this.#drop("own-source");
        break;
      default:
        this.#drop(sifted);
    }
  }

  finish(localFrom: "option" | "inferred"): ReplaySummary {
    this.#probes.expire(Number.POSITIVE_INFINITY);
    const c = this.#c;
    return {
      modes: this.#o.modes,
      localAddresses: this.#locals,
      localFrom,
      ...c,
      blocked: this.#blocks.addresses(MAX_LISTED_BLOCKS),
      blockedCount: this.#blocks.size,
      evictions: {
        sources: this.#trigger.stats().evictions,
        // A "respond" decision that made no block: the table was full (the pipeline's check).
        blocksRefused: this.#responds - c.wouldBlock,
        offences: this.#blocks.offencesForgotten,
        pendingProbes: this.#probes.evicted,
      },
      drops: Object.fromEntries(Object.entries(this.#drops).filter(([, n]) => n > 0)),
      firstTsUs: this.#firstTsUs,
      lastTsUs: this.#lastTsUs,
    };
  }

  #drop(reason: DecodeStatus | ReplayDrop): void {
    this.#drops[reason] = (this.#drops[reason] ?? 0) + 1;
  }

  /** This host's packet `f` answers the oldest waiting probe of its conversation, if any. */
  #reply(f: PacketFacts, verdict: Verdict): void {
    if (this.#probes.reply(f, verdict)) this.#c.answered++;
    else this.#drop("own-unpaired");
  }

  /** A probe the engine resolved, in capture order: a listener's is dropped, any other is a hit. */
  #emit(slot: number, verdict: Verdict, listenerRemembered: boolean): void {
    if (verdict === Verdict.Listening) {
      this.#drop("answered-by-listener");
      return;
    }
    if (listenerRemembered) {
      this.#drop("listener-inferred");
      return;
    }
    const t = this.#probes;
    const p = {
      tsUs: t.tsUs(slot),
      family: t.family(slot),
      source: t.sourceText(slot),
      protocol: t.protocol(slot),
      port: t.dstPort(slot),
      flags: t.tcpFlags(slot),
      ipOptions: t.ipOptions(slot),
    };
    const mode = p.protocol === 6 ? this.#tcpMode : this.#udpMode;
    if (mode === undefined) return; // the sieve watched no port of this protocol
    const ms = p.tsUs / 1000;
    if (ms > this.#clockMs) this.#clockMs = ms;
    this.#expireBlocks();
    const hit: Hit = probeHit(
      mode,
      p.family,
      p.source,
      p.port,
      p.protocol,
      p.flags,
      p.ipOptions,
      this.#clockMs,
    );
    this.#c.hits++;
    this.#log.lines.length = 0;
    this.#pendingBlocks.length = 0;
    const decision = this.#pipeline.onHit(hit);
    if (decision.kind === "ignored") {
      this.#c.ignored++;
      return;
    }
    this.#c.detections++;
    const answer: Answer =
      verdict !== Verdict.Closed ? "none" : p.protocol === 6 ? "rst" : "icmp-unreachable";
    if (answer === "none") this.#c.unverified++;
    if (decision.kind === "held-back") this.#c.heldBack++;
    if (decision.kind === "respond") this.#responds++;
    const [first, ...rest] = this.#log.lines;
    const cls = probeClass(p.protocol, p.flags);
    this.#onEvent({
      type: "detection",
      tsUs: p.tsUs,
      address: p.source,
      family: p.family,
      mode,
      proto: protocolOf(mode),
      port: p.port,
      classification: cls.name,
      scan: cls.kind,
      ipOptions: p.ipOptions,
      answer,
      verified: answer !== "none",
      decision: decision.kind,
      message: first?.message ?? msg.scanFrom(cls.name, p.source, p.source, protocolOf(mode), p.port),
    });
    for (const line of rest)
      this.#onEvent({ type: "log", tsUs: p.tsUs, level: line.level, message: line.message });
    for (const b of this.#pendingBlocks) this.#onEvent({ ...b, tsUs: p.tsUs });
  }

  #blockEvent(e: BlockEventBody): void {
    this.#c.wouldBlock++;
    this.#pendingBlocks.push(e);
  }

  /** Lifts the blocks BLOCK_TIMEOUT ends before now, as the daemon's expiry timer would. */
  #expireBlocks(): void {
    for (const record of this.#blocks.expire(this.#clockMs)) {
      this.#c.expiries++;
      this.#onEvent({
        type: "expiry",
        tsUs: record.expiresAtMs * 1000,
        address: record.address,
        message: msg.blockExpired(record.address),
      });
    }
  }
}

/** Collects what the pipeline logs for one hit. */
class CollectingLog implements Log {
  readonly lines: { level: LogLevelName; message: string }[] = [];
  notice(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
  warn(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "warning", message });
  }
  error(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "err", message });
  }
  /** Live, the logger holds back repeats per source; replay shows every line. */
  limited(_key: string, message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
}

/** The table of blocks in memory, with expiry by capture time. Bounded like the registry. */
class DryRunBlocks implements BlockClaims {
  readonly #records = new Map<string, BlockRecord>();
  /** Blocks per host so far (BLOCK_TIMEOUT_GROWTH); bounded, oldest forgotten first. */
  readonly #offences = new Map<string, number>();
  readonly #maxBlocks: number;
  /** Min-heap of [expiresAtMs, address]; stale entries are skipped when popped. */
  readonly #heap: [number, string][] = [];
  offencesForgotten = 0;

  constructor(maxBlocks: number) {
    this.#maxBlocks = Math.max(1, maxBlocks);
  }

  get full(): boolean {
    return this.#records.size >= this.#maxBlocks;
  }

  get size(): number {
    return this.#records.size;
  }

  has(address: string): boolean {
    return this.#records.has(address);
  }

  claim(record: BlockRecord): boolean {
    if (this.#records.has(record.address) || this.full) return false;
    this.#records.set(record.address, record);
    if (record.expiresAtMs !== 0) heapPush(this.#heap, [record.expiresAtMs, record.address]);
    return true;
  }

  /** Blocks of `address` so far. */
  offences(address: string): number {
    return this.#offences.get(address) ?? 0;
  }

  /** Counts one more block of `address`. */
  recordOffence(address: string): void {
    const n = (this.#offences.get(address) ?? 0) + 1;
    this.#offences.delete(address);
    if (this.#offences.size >= this.#maxBlocks) {
      const oldest = this.#offences.keys().next().value;
      if (oldest !== undefined) this.#offences.delete(oldest);
      this.offencesForgotten++;
    }
    this.#offences.set(address, n);
  }

  /** Removes and returns the blocks expired at `nowMs`. */
  expire(nowMs: number): BlockRecord[] {
    const out: BlockRecord[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]![0] <= nowMs) {
      const [at, address] = heapPop(heap)!;
      const record = this.#records.get(address);
      if (record === undefined || record.expiresAtMs !== at) continue;
      this.#records.delete(address);
      out.push(record);
    }
    return out;
  }

  /** The first `max` blocked addresses, oldest first. */
  addresses(max: number): string[] {
    const out: string[] = [];
    for (const address of this.#records.keys()) {
      if (out.length >= max) break;
      out.push(address);
    }
    return out;
  }
}

function heapPush(heap: [number, string][], item: [number, string]): void {
  heap.push(item);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (heap[parent]![0] <= heap[i]![0]) break;
    [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
    i = parent;
  }
}

function heapPop(heap: [number, string][]): [number, string] | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
    if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
    if (m === i) break;
    [heap[m], heap[i]] = [heap[i]!, heap[m]!];
    i = m;
  }
  return top;
}

/** Records the reaction the live Reactor would run (same steps, same order), runs nothing. */
class DryRunReactor implements Reactions {
  readonly #config: Config;
  readonly #record: (e: BlockEventBody) => void;
  readonly #hostsDeny: HostsDenyResponder | undefined;

  constructor(config: Config, record: (e: BlockEventBody) => void) {
    this.#config = config;
    this.#record = record;
    // Only for `lineFor`: the line the live responder would write. Nothing is opened.
    this.#hostsDeny =
      config.killHostsDeny !== undefined
        ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
        : undefined;
  }

  respond(record: BlockRecord, _name: string): Promise<void> {
    const steps = planSteps(this.#config, record, this.#hostsDeny);
    const banSec = record.expiresAtMs === 0 ? 0 : Math.round((record.expiresAtMs - record.sinceMs) / 1000);
    this.#record({
      type: "block",
      address: record.address,
      family: record.family,
      mode: record.mode,
      port: record.port,
      level: record.level,
      banSec,
      steps,
      message: wouldBlockLine(record, banSec, steps),
    });
    return Promise.resolve();
  }
}

/** The live Reactor's steps for `record`: the one reaction plan, with what each step would do. */
export function planSteps(
  config: Config,
  record: BlockRecord,
  hostsDeny: HostsDenyResponder | undefined,
): PlannedStep[] {
  const command = (method: "route" | "command", template: string): PlannedStep => {
    try {
      return { method, command: expandMacros(template, record) };
    } catch (err) {
      return { method, error: (err as Error).message };
    }
  };
  const setup = {
    command: config.killRunCmd !== undefined,
    commandFirst: config.killRunCmdFirst,
    hostsDeny: hostsDeny !== undefined,
    firewall: config.killFirewall !== "none",
    route: config.killRoute !== undefined,
  };
  return reactionPlan(setup, record.level).map((step): PlannedStep => {
    switch (step) {
      case "command":
        return command("command", config.killRunCmd ?? "");
      case "route":
        return command("route", config.killRoute ?? "");
      case "firewall":
        return { method: config.killFirewall === "none" ? "nftables" : config.killFirewall };
      default:
        try {
          return {
            method: "hosts.deny",
            file: config.wrapperHostsDeny,
            line: hostsDeny?.lineFor(record) ?? "",
          };
        } catch (err) {
          return { method: "hosts.deny", error: (err as Error).message };
        }
    }
  });
}

/** `would block 192.0.2.2 (stcp, port 143) for 24h via hosts.deny "ALL: 192.0.2.2", nftables` */
export function wouldBlockLine(record: BlockRecord, banSec: number, steps: readonly PlannedStep[]): string {
  const what = `${record.address} (${record.mode}, port ${record.port})`;
  const via = steps.map((s) => {
    if ("error" in s) return `${s.method} (not possible: ${s.error})`;
    if (s.method === "hosts.deny") return `hosts.deny "${s.line}"`;
    if (s.method === "route" || s.method === "command") return `${s.method} "${s.command}"`;
    return s.method;
  });
  if (record.level === 2) {
    return via.length > 0
      ? `would run for ${what}: ${via.join(", ")}`
      : `would run nothing for ${what}: KILL_RUN_CMD is not set`;
  }
  const how =
    via.length > 0
      ? `via ${via.join(", ")}`
      : "in the history and blocked files only (no blocking step configured)";
  return `would block ${what} ${banSec === 0 ? "forever" : `for ${formatDuration(banSec)}`} ${how}`;
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
