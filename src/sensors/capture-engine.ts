/**
 * The capture engine: owns the libpcap captures of one "generation" (one filter, one set of
 * interfaces) inside the daemon; the stealth sensor replaces it, never modifies it, when either
 * changes.
 *
 * Per frame, allocation-free: decode, drop what is not a probe candidate (bad packets by
 * decoder status; outgoing, from this host, port not watched, ACK/RST by the rules in
 * probe-rules.ts, which replay shares), append a 32-byte record (probe-record.ts) to the batch.
 * Probes first wait (at most `REPLY_WAIT_MS`) for this host's own answer (RST or SYN+ACK to
 * TCP, ICMP port unreachable to UDP), which tells whether a socket listened. A read's first
 * record goes to the sensor at once, the others at the end of the read.
 * Whether a port has a local listener otherwise is decided in the sensor, which owns that state.
 */

import { checksumOk } from "../decode/checksum.js";
import { FragmentHeads } from "../decode/fragments.js";
import { DECODE_STATUSES, type DecodeStatus, decodeFrame, PacketFacts } from "../decode/packet.js";
import { OwnFlows } from "../detect/own-flows.js";
import { ackProbeStands, ProbeSieve, replyMeansListening } from "../detect/probe-rules.js";
import { ProbeTracker, Verdict } from "../detect/probe-tracker.js";
import { CAPTURE_LIMITS, FRAGMENT_LIMITS, OWN_FLOW_LIMITS } from "../limits.js";
import { emptyPorts } from "../port-set.js";
import type { PortBitmap } from "../vocabulary.js";
import { BatchSlots, type FrameHandler, type LiveCapture, openLiveCapture } from "./capture.js";
import type { CapturePlan, EngineCounters, InterfaceStats, OpenFailure } from "./capture-plan.js";
import { type ProbeRecordFields, RECORD_BYTES, writeRecord } from "./probe-record.js";

/** Where an engine's output goes. Both are called synchronously from the capture's reads. */
export interface EngineSink {
  /** `n` records in `b`; `b` is reused after the call: copy what must be kept. */
  hits(b: Uint8Array, n: number): void;
  /** A capture failed for good (its interface went away); the others go on. */
  failed(error: string): void;
}

const {
  recordsPerBatch: RECORDS_PER_BATCH,
  pendingProbes: PENDING_PROBES,
  replyWaitMs: REPLY_WAIT_MS,
} = CAPTURE_LIMITS;

type DropReason =
  | Exclude<DecodeStatus, "ok">
  | "outgoing"
  | "own-source"
  | "not-watched"
  | "not-probe"
  | "own-flow"
  | "bad-checksum"
  | "ack-unanswered"
  | "answered-by-listener";

const WARM_UP_ROUNDS = CAPTURE_LIMITS.warmUpRounds;
let warmedUp = false;

/** A plan for throwaway engines: port 1 watched, documentation addresses its own. */
export const WARM_UP_PLAN: CapturePlan = {
  interfaces: ["warm-up"],
  filter: "",
  tcpRanges: [[1, 1]],
  udpRanges: [[1, 1]],
  ownAddresses: ["192.0.2.2", "2001:db8::2"],
  ackScans: false,
  snapLength: 256,
  bufferBytes: 1 << 16,
  bufferTimeoutMs: 0,
  holdUnderLoadMs: 0,
};

/**
 * A synthetic Ethernet frame: IPv4 or IPv6 (documentation addresses), TCP or UDP, to `dstPort`
 * from `srcPort`. `reply` swaps the addresses (this host's answer to the probe).
 */
function syntheticFrame(family: 4 | 6, protocol: 6 | 17, flags: number, reply: boolean): Uint8Array {
  const probeSrc =
    family === 4 ? [192, 0, 2, 1] : [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1];
  const probeDst =
    family === 4 ? [192, 0, 2, 2] : [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2];
  const [src, dst] = reply ? [probeDst, probeSrc] : [probeSrc, probeDst];
  const [srcPort, dstPort] = reply ? [1, 40000] : [40000, 1];
  const l4 = protocol === 6 ? 20 : 8;
  const ipHeader = family === 4 ? 20 : 40;
  const b = Buffer.alloc(14 + ipHeader + l4);
  b.writeUInt16BE(family === 4 ? 0x0800 : 0x86dd, 12);
  if (family === 4) {
    b[14] = 0x45;
    b.writeUInt16BE(ipHeader + l4, 16);
    b[22] = 64;
    b[23] = protocol;
    b.set(src, 26);
    b.set(dst, 30);
  } else {
    b[14] = 0x60;
    b.writeUInt16BE(l4, 18);
    b[20] = protocol;
    b[21] = 64;
    b.set(src, 22);
    b.set(dst, 38);
  }
  const at = 14 + ipHeader;
  b.writeUInt16BE(srcPort, at);
  b.writeUInt16BE(dstPort, at + 2);
  if (protocol === 6) {
    b[at + 12] = 0x50;
    b[at + 13] = flags;
  } else {
    b.writeUInt16BE(l4, at + 4);
  }
  return b;
}

export class CaptureEngine {
  readonly #plan: CapturePlan;
  readonly #captures: LiveCapture[] = [];
  readonly #facts: PacketFacts;
  readonly #sieve: ProbeSieve;
  readonly #fragments = new FragmentHeads(FRAGMENT_LIMITS);
  readonly #batch = Buffer.alloc(RECORDS_PER_BATCH * RECORD_BYTES);
  readonly #sink: EngineSink;
  #records = 0;
  /** A record of this read already went to the sink (the first goes at once). */
  #sentThisRead = false;
  #stopped = false;
  readonly #pending = new ProbeTracker(
    { capacity: PENDING_PROBES, replyWaitMs: REPLY_WAIT_MS, inOrder: false, portMemory: 0 },
    (slot, verdict) => this.#onResolved(slot, verdict),
  );
  readonly #monoMs: () => number;
  /** The monotonic clock read once per capture read (flows' idle times need no better). */
  #readMs = 0;
  #readMsStale = true;
  /** Reused for every record written. */
  readonly #record: ProbeRecordFields = {
    iface: 0,
    family: 0,
    protocol: 0,
    tcpFlags: 0,
    ipOptions: false,
    answered: false,
    dstPort: 0,
    tsUs: 0,
  };
  #expiryTimer: NodeJS.Timeout | undefined;
  frames = 0;
  decoded = 0;
  candidates = 0;
  replies = 0;
  readonly drops: Record<DropReason, number>;

  /**
   * `monoMs`: the clock of the reply wait (live: the monotonic clock; tests inject theirs).
   * `flows`: the flows this host started, kept by the sensor across generations.
   */
  constructor(
    plan: CapturePlan,
    sink: EngineSink,
    monoMs: () => number = () => performance.now(),
    flows: OwnFlows = new OwnFlows(OWN_FLOW_LIMITS),
  ) {
    this.#monoMs = monoMs;
    this.#facts = new PacketFacts();
    this.#plan = plan;
    this.#sink = sink;
    this.#sieve = new ProbeSieve({
      tcp: plan.tcpRanges && bitmapOf(plan.tcpRanges),
      udp: plan.udpRanges && bitmapOf(plan.udpRanges),
      ownAddresses: plan.ownAddresses,
      checkDestination: false, // the kernel filter only passes packets to our addresses
      ackScans: plan.ackScans,
      flows,
    });
    // Every decoder status but "ok", then the engine's own reasons (the type checks all are here).
    const byStatus = Object.fromEntries(DECODE_STATUSES.filter((s) => s !== "ok").map((s) => [s, 0]));
    this.drops = {
      ...(byStatus as Record<Exclude<DecodeStatus, "ok">, number>),
      outgoing: 0,
      "own-source": 0,
      "not-watched": 0,
      "not-probe": 0,
      "own-flow": 0,
      "bad-checksum": 0,
      "ack-unanswered": 0,
      "answered-by-listener": 0,
    };
  }

  /**
   * Runs synthetic frames (in live-capture-like slots) through a throwaway engine's real
   * per-frame and batch path, so that the first real probe meets compiled code instead of
   * paying for lazy compilation (measured: ~1 ms of a fresh daemon's first probe). Touches no
   * state but the throwaway engine's; its records go nowhere. Once per process, before the
   * first real engine's objects exist: the object shapes V8 settles on here (a source address
   * ≥ 128.0.0.0 makes `srcV4` a double) are then the ones real engines are made with, where an
   * engine made earlier would have its objects migrated on its first probe (~0.1 ms). A step
   * of the daemon's start-up (capture-sensor.ts, warmUpCapturePath).
   */
  static warmUp(): void {
    if (warmedUp) return;
    warmedUp = true;
    const engine = new CaptureEngine(WARM_UP_PLAN, { hits: () => {}, failed: () => {} });
    const frames: Uint8Array[] = [];
    for (const family of [4, 6] as const) {
      frames.push(syntheticFrame(family, 6, 0x02, false)); // SYN
      frames.push(syntheticFrame(family, 6, 0x14, true)); // RST+ACK: closed
      frames.push(syntheticFrame(family, 6, 0x02, false));
      frames.push(syntheticFrame(family, 6, 0x12, true)); // SYN+ACK: listening
      frames.push(syntheticFrame(family, 6, 0x01, false)); // FIN, left unanswered
      frames.push(syntheticFrame(family, 17, 0, false));
    }
    const read = frames.map((data, i) => ({ data, timestampUs: i }));
    for (let round = 0; round < WARM_UP_ROUNDS; round++) engine.readFrames(read);
    engine.stop();
  }

  /**
   * One read of `frames` (Ethernet unless `linkType` says otherwise) through the real per-frame
   * and end-of-read path, as if the first interface's capture had delivered them: the warm-up's
   * way in, and the tests' that run the live path without a capture.
   */
  readFrames(
    frames: readonly { readonly data: Uint8Array; readonly timestampUs: number }[],
    linkType = 1,
  ): void {
    const slots = new BatchSlots(this.#plan.snapLength, Math.max(1, frames.length));
    for (const [i, frame] of frames.entries()) slots.write(i, frame.data, frame.timestampUs);
    slots.deliver(frames.length, linkType, this.#frameHandler(0), () => this.#flush());
  }

  /** Opens a capture on every interface of the plan; says which opened and which failed. */
  open(): { opened: string[]; failed: OpenFailure[] } {
    const opened: string[] = [];
    const failed: OpenFailure[] = [];
    const options = {
      filter: this.#plan.filter,
      snapLength: this.#plan.snapLength,
      bufferBytes: this.#plan.bufferBytes,
      bufferTimeoutMs: this.#plan.bufferTimeoutMs,
      holdUnderLoadMs: this.#plan.holdUnderLoadMs,
      onBatchEnd: () => this.#flush(),
      onFailure: (error: string) => this.#sink.failed(error),
    };
    this.#plan.interfaces.forEach((name, index) => {
      const r = openLiveCapture(name, options, this.#frameHandler(index));
      if (r.ok) {
        this.#captures.push(r.capture);
        opened.push(name);
      } else {
        failed.push({ name, error: r.error, permission: r.permission });
      }
    });
    return { opened, failed };
  }

  /** The capture's frame handler for interface `index` (one source for all, warm-up's too). */
  #frameHandler(index: number): FrameHandler {
    return (frame, capturedLength, linkType, wireLength, timestampUs) =>
      this.#onFrame(index, frame, capturedLength, linkType, wireLength, timestampUs);
  }

  #onFrame(
    index: number,
    frame: Uint8Array,
    capturedLength: number,
    linkType: number,
    wireLength: number,
    timestampUs: number,
  ): void {
    if (this.#stopped) return;
    this.frames++;
    const f = this.#facts;
    const status = decodeFrame(frame, linkType, f, wireLength, capturedLength);
    if (status !== "ok") {
      // A fragment's header may complete here (nmap -f): then it goes on as a whole packet.
      const fragment = status === "fragment" || status === "tiny-fragment";
      if (!fragment || !this.#fragments.add(frame, f, this.#clockOfRead(), capturedLength)) {
        this.drops[status]++;
        return;
      }
    }
    this.decoded++;
    this.#clockOfRead();
    const sifted = this.#sieve.sift(f, this.#readMs);
    switch (sifted) {
      case "probe":
        // The kernel discards it unanswered: not a hit, counted apart (checksum.ts).
        if (!checksumOk(frame, f, capturedLength)) {
          this.drops["bad-checksum"]++;
          return;
        }
        break;
      case "reply":
        // The kernel's answer to a probe (the filter lets only RST, SYN+ACK and ICMP port
        // unreachable from us through).
        if (this.#pending.reply(f, replyMeansListening(f) ? Verdict.Listening : Verdict.Closed))
          this.replies++;
        else this.drops["own-source"]++;
        return;
      case "not-local": // not asked for: the kernel filter did it
        return;
      default:
        this.drops[sifted]++;
        return;
    }
    this.candidates++;
    // Every probe waits (briefly) for this host's answer, which tells whether a socket listened.
    this.#pending.add(index, f, timestampUs, this.#monoMs());
  }

  /** The monotonic clock, read once per capture read (idle times and fragment timeouts need no better). */
  #clockOfRead(): number {
    if (this.#readMsStale) {
      this.#readMs = this.#monoMs();
      this.#readMsStale = false;
    }
    return this.#readMs;
  }

  #onResolved(slot: number, verdict: Verdict): void {
    if (verdict === Verdict.Listening) {
      // A socket listened when the probe came: not a trap (spec §3).
      this.drops["answered-by-listener"]++;
      return;
    }
    const p = this.#pending;
    if (!ackProbeStands(p.protocol(slot), p.tcpFlags(slot), verdict === Verdict.Closed)) {
      this.drops["ack-unanswered"]++;
      return;
    }
    const r = this.#record;
    r.iface = p.iface(slot);
    r.family = p.family(slot);
    r.protocol = p.protocol(slot);
    r.tcpFlags = p.tcpFlags(slot);
    r.ipOptions = p.ipOptions(slot);
    r.answered = verdict === Verdict.Closed;
    r.dstPort = p.dstPort(slot);
    r.tsUs = p.tsUs(slot);
    writeRecord(this.#batch, this.#records * RECORD_BYTES, r, p.sources, slot * 16);
    this.#records++;
    // The first record of a read goes at once: a lone probe is logged without waiting for the
    // rest of the read to be decoded. Full: send it now (not #flush: that expires pending
    // probes, which append again).
    if (!this.#sentThisRead || this.#records === RECORDS_PER_BATCH) {
      this.#sentThisRead = true;
      this.#sendBatch();
    }
  }

  /** At the end of each capture read, and when unanswered probes are due. */
  #flush(): void {
    this.#sentThisRead = false;
    this.#readMsStale = true;
    if (this.#stopped) return;
    this.#pending.expire(this.#monoMs());
    if (this.#pending.count > 0 && this.#expiryTimer === undefined) {
      this.#expiryTimer = setTimeout(() => {
        this.#expiryTimer = undefined;
        this.#flush();
      }, REPLY_WAIT_MS);
    }
    this.#sendBatch();
  }

  #sendBatch(): void {
    const n = this.#records;
    if (n === 0) return;
    this.#records = 0;
    this.#sink.hits(this.#batch.subarray(0, n * RECORD_BYTES), n);
  }

  /** Stopped: the captures are closed and everything was handed over. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The counters so far, and the kernel's for each open capture. */
  counters(): { counters: EngineCounters; interfaces: InterfaceStats[] } {
    const interfaces: InterfaceStats[] = [];
    let handlerErrors = 0;
    for (const c of this.#captures) {
      const s = c.stats();
      if (s !== undefined) interfaces.push(s);
      handlerErrors += c.handlerErrors;
    }
    const counters = {
      frames: this.frames,
      decoded: this.decoded,
      candidates: this.candidates,
      replies: this.replies,
      // A frame whose handling threw (a bug): counted, never allowed to stop the capture.
      // A fragmented header given up before it was complete (its table's cap or timeout).
      drops: {
        ...this.drops,
        "frame-handler-error": handlerErrors,
        "fragment-evicted": this.#fragments.evicted + this.#fragments.expired,
      },
    };
    return { counters, interfaces };
  }

  /**
   * Closes the captures (the kernel releases them at once) and hands over what is batched,
   * probes still waiting for an answer included. Returns the last counters.
   */
  stop(): { counters: EngineCounters; interfaces: InterfaceStats[] } {
    if (this.#stopped) return this.counters();
    for (const c of this.#captures) c.drain();
    const last = this.counters();
    for (const c of this.#captures) c.close();
    this.#pending.expire(Number.POSITIVE_INFINITY);
    this.#flush();
    this.#stopped = true;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const final = this.counters();
    return { counters: final.counters, interfaces: last.interfaces };
  }
}

function bitmapOf(ranges: readonly (readonly [number, number])[]): PortBitmap {
  const out = emptyPorts();
  for (const [from, to] of ranges) if (from >= 0 && to <= 65535 && from <= to) out.fill(1, from, to + 1);
  return out;
}
