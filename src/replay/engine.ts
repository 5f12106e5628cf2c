/** The replay engine: one frame at a time through the live path's parts (see replay.ts). */

import { checksumOk } from "../decode/checksum.js";
import { FragmentHeads } from "../decode/fragments.js";
import { DECODE_STATUSES, type DecodeStatus, decodeFrame, PacketFacts } from "../decode/packet.js";
import { ListenHistory } from "../detect/listen-history.js";
import { OwnFlows } from "../detect/own-flows.js";
import {
  ackProbeStands,
  ProbeSieve,
  probeClass,
  probeHit,
  replyMeansListening,
} from "../detect/probe-rules.js";
import { ProbeTracker, Verdict } from "../detect/probe-tracker.js";
import { RepeatedPorts } from "../detect/repeated-ports.js";
import type { TriggerTable } from "../detect/trigger.js";
import { CAPTURE_LIMITS, FRAGMENT_LIMITS, OWN_FLOW_LIMITS, REPEAT_LIMITS, REPLAY_LIMITS } from "../limits.js";
import * as msg from "../log/messages.js";
import type { Pipeline } from "../pipeline.js";
import { candidatePorts, type StealthMode } from "../port-set.js";
import { DryRunReactor, type PlannedBlock } from "../respond/dry-run.js";
import type { CapturedFrame } from "../sensors/pcap-file.js";
import { buildStages } from "../stages.js";
import { BlockRegistry } from "../state/blocks.js";
import { MemoryStore } from "../state/memory-store.js";
import { type Hit, protocolOf } from "../vocabulary.js";
import { CollectingLog } from "./collecting-log.js";
import type {
  Answer,
  BlockEventBody,
  ReplayDrop,
  ReplayEvent,
  ReplayOptions,
  ReplaySummary,
} from "./events.js";

// The live capture engine's ring of waiting probes, so that replay drops what live would.
const DEFAULTS = {
  replyWindowMs: REPLAY_LIMITS.replyWindowMs,
  maxPendingProbes: CAPTURE_LIMITS.pendingProbes,
};
const PORT_MEMORY = REPLAY_LIMITS.portMemory;
export const MAX_LISTED_BLOCKS = REPLAY_LIMITS.maxListedBlocks;

export class ReplayEngine {
  readonly #o: ReplayOptions;
  readonly #onEvent: (event: ReplayEvent) => void;
  readonly #locals: readonly string[];
  readonly #sieve: ProbeSieve;
  readonly #tcpMode: StealthMode | undefined;
  readonly #udpMode: StealthMode | undefined;
  readonly #facts = new PacketFacts();
  /** The live path's probe engine, in capture order and capture time, with a memory of ports. */
  readonly #probes: ProbeTracker;
  /** The flows this host started, in capture time (the live sensor's table). */
  readonly #flows = new OwnFlows(OWN_FLOW_LIMITS);
  /** Fragmented headers put back together, in capture time (the live engine's table). */
  readonly #fragments = new FragmentHeads(FRAGMENT_LIMITS);
  /** When each port last answered SYN+ACK (or a datagram): LISTEN_GRACE in capture time. */
  readonly #listened = new ListenHistory();
  readonly #graceMs: number;
  readonly #repeats = new RepeatedPorts(REPEAT_LIMITS.maxSources);
  readonly #store: MemoryStore;
  readonly #blocks: BlockRegistry;
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
    samePortRepeats: 0,
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
      ackScans: o.config.detectAckScans,
      flows: this.#flows,
    });
    this.#graceMs = o.config.listenGraceSec * 1000;
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
    // The daemon's table of blocks, over a store in memory: no file is ever written (the
    // blocked files are written by the live reactor only).
    this.#store = new MemoryStore(o.limits.maxBlocks);
    this.#blocks = new BlockRegistry(config.blockedFile, o.limits.maxBlocks, this.#store);
    this.#reactor = new DryRunReactor(config, (planned) => this.#blockEvent(planned));
    const stages = buildStages({
      config,
      limits: o.limits,
      queries: {
        isIgnored,
        // Gateways and name servers are facts of the host at run time, not of the capture.
        neverBlockReason: () => undefined,
        isBlocked: (a) => this.#blocks.has(a),
        priorOffences: (a) => this.#store.offences(a),
      },
      log: this.#log,
      registry: this.#blocks,
      reactor: this.#reactor,
      recordOffence: (address) => this.#store.recordOffence(address),
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
      const fragment = status === "fragment" || status === "tiny-fragment";
      if (!fragment || !this.#fragments.add(frame.data, f, this.#nowUs / 1000)) {
        this.#drop(status);
        return;
      }
    }
    this.#c.decoded++;
    const sifted = this.#sieve.sift(f, this.#nowUs / 1000);
    switch (sifted) {
      case "probe":
        if (!checksumOk(frame.data, f)) {
          this.#drop("bad-checksum");
          break;
        }
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
      blocked: this.#blocks
        .list()
        .slice(0, MAX_LISTED_BLOCKS)
        .map((b) => b.address),
      blockedCount: this.#blocks.size,
      evictions: {
        sources: this.#trigger.stats().evictions,
        // A "respond" decision that made no block: the table was full (the pipeline's check).
        blocksRefused: this.#responds - c.wouldBlock,
        offences: this.#store.offencesForgotten,
        pendingProbes: this.#probes.evicted,
        fragments: this.#fragments.evicted + this.#fragments.expired,
        ownFlows: this.#flows.evicted,
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
    const t = this.#probes;
    const proto = t.protocol(slot) === 6 ? "tcp" : "udp";
    const atMs = t.tsUs(slot) / 1000;
    if (verdict === Verdict.Listening) {
      this.#listened.notePort(proto, t.dstPort(slot), atMs);
      this.#drop("answered-by-listener");
      return;
    }
    if (listenerRemembered) {
      this.#drop("listener-inferred");
      return;
    }
    if (!ackProbeStands(t.protocol(slot), t.tcpFlags(slot), verdict === Verdict.Closed)) {
      this.#drop("ack-unanswered");
      return;
    }
    const graceMode = proto === "tcp" ? this.#tcpMode : this.#udpMode;
    const advanced = graceMode === "atcp" || graceMode === "audp";
    if (advanced && this.#listened.listenedWithin(proto, t.dstPort(slot), this.#graceMs, atMs)) {
      this.#drop("listen-grace");
      return;
    }
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
    if (this.#repeats.note(p.source, p.protocol, p.port)) this.#c.samePortRepeats++;
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

  #blockEvent({ record, banSec, steps, message }: PlannedBlock): void {
    this.#c.wouldBlock++;
    const { address, family, mode, port, level } = record;
    this.#pendingBlocks.push({ type: "block", address, family, mode, port, level, banSec, steps, message });
  }

  /** Lifts the blocks BLOCK_TIMEOUT ends before now, as the daemon's expiry timer would. */
  #expireBlocks(): void {
    for (const record of this.#store.expired(this.#clockMs, Number.POSITIVE_INFINITY)) {
      // Synchronous up to the blocked file, which replay never wrote.
      void this.#blocks.release(record.address);
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
