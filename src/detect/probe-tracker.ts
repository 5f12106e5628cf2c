/**
 * The one probe engine, shared by the live capture (capture-engine.ts) and `portsentry replay`:
 * a probe candidate waits (at most `replyWaitMs`) for this host's own answer, which tells
 * whether a socket listened when it came: RST or ICMP port unreachable = nothing did (closed);
 * SYN+ACK, or a datagram back from the probed UDP port = one did (listening). A probe left
 * unanswered (a firewall dropped it, a non-SYN probe to a listener, which Linux ignores, the
 * kernel's ICMP rate limit) goes out as such; the live sensor then asks /proc, replay asks the
 * port memory (what the last answer from that port said).
 *
 * Pure: time is an argument (live passes the monotonic clock, replay the capture time).
 * Bounded and allocation-free per packet: fixed typed arrays in a ring, and a numeric key →
 * slot map; when full, the oldest probe goes out unanswered (counted).
 */

import { LRUCache } from "lru-cache";
import { formatSourceIp } from "../decode/address.js";
import type { PacketFacts } from "../decode/packet.js";

/** What this host answered to a probe. */
export const Verdict = { Unanswered: 0, Closed: 1, Listening: 2 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export interface ProbeTrackerOptions {
  /** Probes waiting at once. */
  readonly capacity: number;
  /** Past this (in the caller's clock) a probe goes out unanswered. */
  readonly replyWaitMs: number;
  /**
   * Release probes in arrival order (each waits for those before it: replay, whose hits keep
   * capture order); otherwise each goes out as soon as it is resolved (live).
   */
  readonly inOrder: boolean;
  /** Ports whose last answer is remembered, for unanswered probes (0: none, live). */
  readonly portMemory: number;
}

/** A resolved probe, read through the tracker's accessors while the callback runs. */
export type ResolvedProbe = (slot: number, verdict: Verdict, listenerRemembered: boolean) => void;

const FREE = 0;
const WAITING = 1;
/** Resolved, held until those before it are (inOrder). */
const HELD = 2;

export class ProbeTracker {
  readonly #o: ProbeTrackerOptions;
  readonly #onResolved: ResolvedProbe;
  readonly #src: Uint8Array;
  readonly #dst: Uint8Array;
  readonly #family: Uint8Array;
  readonly #protocol: Uint8Array;
  readonly #srcPort: Uint16Array;
  readonly #dstPort: Uint16Array;
  readonly #flags: Uint8Array;
  readonly #ipOptions: Uint8Array;
  readonly #iface: Uint8Array;
  readonly #tsUs: Float64Array;
  readonly #arrivalMs: Float64Array;
  readonly #state: Uint8Array;
  readonly #verdict: Uint8Array;
  readonly #slotByKey = new Map<number, number>();
  /** What the last answer said of a local port (key: protocol, address, port); least recent out. */
  readonly #portState: LRUCache<number, Verdict> | undefined;
  /** Next slot to fill; `#oldest` chases it. */
  #head = 0;
  #oldest = 0;
  /** Probes not yet released (waiting or held). */
  count = 0;
  /** Probes sent on unanswered because the ring was full. */
  evicted = 0;

  constructor(options: ProbeTrackerOptions, onResolved: ResolvedProbe) {
    const n = Math.max(1, options.capacity);
    this.#o = options;
    this.#onResolved = onResolved;
    this.#src = new Uint8Array(n * 16);
    this.#dst = new Uint8Array(n * 16);
    this.#family = new Uint8Array(n);
    this.#protocol = new Uint8Array(n);
    this.#srcPort = new Uint16Array(n);
    this.#dstPort = new Uint16Array(n);
    this.#flags = new Uint8Array(n);
    this.#ipOptions = new Uint8Array(n);
    this.#iface = new Uint8Array(n);
    this.#tsUs = new Float64Array(n);
    this.#arrivalMs = new Float64Array(n);
    this.#state = new Uint8Array(n);
    this.#verdict = new Uint8Array(n);
    this.#portState = options.portMemory > 0 ? new LRUCache({ max: options.portMemory }) : undefined;
  }

  /** A probe candidate `f` (decoded, sifted) from interface `iface`, captured at `tsUs`. */
  add(iface: number, f: PacketFacts, tsUs: number, nowMs: number): void {
    const slot = this.#head;
    if (this.#state[slot] !== FREE) {
      // Full: the oldest (this slot) goes out now, unanswered.
      this.evicted++;
      if (this.#state[slot] === WAITING) this.#resolve(slot, Verdict.Unanswered);
      this.#releaseOldest(true);
    }
    this.#head = (slot + 1) % this.#state.length;
    const width = f.family === 4 ? 4 : 16;
    for (let i = 0; i < 16; i++) {
      this.#src[slot * 16 + i] = i < width ? f.src[i]! : 0;
      this.#dst[slot * 16 + i] = i < width ? f.dst[i]! : 0;
    }
    this.#family[slot] = f.family;
    this.#protocol[slot] = f.protocol;
    this.#srcPort[slot] = f.srcPort;
    this.#dstPort[slot] = f.dstPort;
    this.#flags[slot] = f.tcpFlags;
    this.#ipOptions[slot] = f.ipOptions ? 1 : 0;
    this.#iface[slot] = iface;
    this.#tsUs[slot] = tsUs;
    this.#arrivalMs[slot] = nowMs;
    this.#state[slot] = WAITING;
    this.count++;
    this.#slotByKey.set(
      conversationKey(f.family, f.protocol, this.#src, this.#dst, slot * 16, f.srcPort, f.dstPort),
      slot,
    );
  }

  /**
   * This host's packet `f` (RST, SYN+ACK, ICMP port unreachable, a datagram back) resolves the
   * probe it answers, if one waits: `verdict` is what it says. False when none waits.
   */
  reply(f: PacketFacts, verdict: Verdict): boolean {
    // The answer goes the other way: its destination is the prober, its source our address.
    const key = conversationKey(f.family, f.protocol, f.dst, f.src, 0, f.dstPort, f.srcPort);
    const slot = this.#slotByKey.get(key);
    if (slot === undefined || this.#state[slot] !== WAITING) return false;
    if (
      this.#family[slot] !== f.family ||
      this.#protocol[slot] !== f.protocol ||
      this.#srcPort[slot] !== f.dstPort ||
      this.#dstPort[slot] !== f.srcPort
    ) {
      return false;
    }
    const width = f.family === 4 ? 4 : 16;
    for (let i = 0; i < width; i++) {
      if (this.#src[slot * 16 + i] !== f.dst[i] || this.#dst[slot * 16 + i] !== f.src[i]) return false;
    }
    this.#remember(slot, verdict);
    this.#resolve(slot, verdict);
    this.#releaseOldest(false);
    return true;
  }

  /** Sends on the probes that waited `replyWaitMs` without an answer (all of them: Infinity). */
  expire(nowMs: number): void {
    const n = this.#state.length;
    for (let slot = this.#oldest, seen = 0; seen < n && this.count > 0; slot = (slot + 1) % n, seen++) {
      if (this.#state[slot] !== WAITING) continue;
      if (nowMs - this.#arrivalMs[slot]! < this.#o.replyWaitMs) break;
      this.#resolve(slot, Verdict.Unanswered);
    }
    this.#releaseOldest(false);
  }

  // Accessors for the slot being resolved (valid during the callback).
  family(slot: number): 4 | 6 {
    return this.#family[slot] === 4 ? 4 : 6;
  }
  protocol(slot: number): number {
    return this.#protocol[slot]!;
  }
  dstPort(slot: number): number {
    return this.#dstPort[slot]!;
  }
  tcpFlags(slot: number): number {
    return this.#flags[slot]!;
  }
  ipOptions(slot: number): boolean {
    return this.#ipOptions[slot] === 1;
  }
  iface(slot: number): number {
    return this.#iface[slot]!;
  }
  tsUs(slot: number): number {
    return this.#tsUs[slot]!;
  }
  /** The 16 source bytes of every slot; the slot's start at `slot * 16`. */
  get sources(): Uint8Array {
    return this.#src;
  }
  sourceText(slot: number): string {
    return formatSourceIp(this.family(slot), this.#src, slot * 16);
  }
  destinationText(slot: number): string {
    return formatSourceIp(this.family(slot), this.#dst, slot * 16);
  }

  #resolve(slot: number, verdict: Verdict): void {
    const key = conversationKey(
      this.#family[slot]!,
      this.#protocol[slot]!,
      this.#src,
      this.#dst,
      slot * 16,
      this.#srcPort[slot]!,
      this.#dstPort[slot]!,
    );
    if (this.#slotByKey.get(key) === slot) this.#slotByKey.delete(key);
    this.#verdict[slot] = verdict;
    this.#state[slot] = HELD;
    if (!this.#o.inOrder) this.#emit(slot);
  }

  /** inOrder: emits the resolved probes at the head of the ring; `one`: at least the oldest. */
  #releaseOldest(one: boolean): void {
    const n = this.#state.length;
    let first = one;
    while (this.count > 0) {
      const slot = this.#oldest;
      const state = this.#state[slot];
      if (state === WAITING) return;
      if (state === HELD && (this.#o.inOrder || first)) this.#emit(slot);
      if (this.#state[slot] !== FREE) return;
      first = false;
      this.#oldest = (slot + 1) % n;
    }
    this.#oldest = this.#head;
  }

  #emit(slot: number): void {
    const verdict = this.#verdict[slot] as Verdict;
    this.#state[slot] = FREE;
    this.count--;
    const remembered = verdict === Verdict.Unanswered && this.#remembered(slot) === Verdict.Listening;
    this.#onResolved(slot, verdict, remembered);
  }

  #remember(slot: number, verdict: Verdict): void {
    this.#portState?.set(this.#portKey(slot), verdict);
  }

  #remembered(slot: number): Verdict | undefined {
    return this.#portState?.get(this.#portKey(slot));
  }

  /** The local port a probe went to: protocol, our address, port. */
  #portKey(slot: number): number {
    let h = Math.imul(0x811c9dc5 ^ this.#protocol[slot]!, 0x01000193);
    const width = this.#family[slot] === 4 ? 4 : 16;
    for (let i = 0; i < width; i++) h = Math.imul(h ^ this.#dst[slot * 16 + i]!, 0x01000193);
    h = Math.imul(h ^ (this.#dstPort[slot]! & 0xff), 0x01000193);
    return Math.imul(h ^ (this.#dstPort[slot]! >> 8), 0x01000193) | 0;
  }
}

/** FNV-1a over a conversation: protocol, the remote and local addresses (at `offset`), both ports. */
function conversationKey(
  family: number,
  protocol: number,
  remote: Uint8Array,
  local: Uint8Array,
  offset: number,
  remotePort: number,
  localPort: number,
): number {
  let h = Math.imul(0x811c9dc5 ^ family, 0x01000193) ^ protocol;
  const width = family === 4 ? 4 : 16;
  for (let i = 0; i < width; i++) h = Math.imul(h ^ remote[offset + i]!, 0x01000193);
  for (let i = 0; i < width; i++) h = Math.imul(h ^ local[offset + i]!, 0x01000193);
  h = Math.imul(h ^ (remotePort & 0xff), 0x01000193);
  h = Math.imul(h ^ (remotePort >> 8), 0x01000193);
  h = Math.imul(h ^ (localPort & 0xff), 0x01000193);
  h = Math.imul(h ^ (localPort >> 8), 0x01000193);
  return h | 0;
}
