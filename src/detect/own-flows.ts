/**
 * Flows this host started: (protocol, remote address, remote port, local port) → when we last
 * sent on it. A packet to a watched port that belongs to one (an NTP server's answer to our
 * client on port 123, a resolver's late reply to port 53 or 900, a segment of a TCP connection
 * we opened from a low port) is a reply, never a probe (issue #14).
 *
 * Why not conntrack: asking the kernel over netlink costs a round trip per candidate probe
 * (~10 µs), needs conntrack loaded (a host without firewall rules has no table: every reply
 * would look new), and loading it changes the host (its table limit drops packets under a
 * flood). The capture already sees what we send from a watched port (bpf.ts), so it keeps its
 * own view: one hash and at most `WINDOW` slot compares per outgoing packet and per candidate.
 *
 * Pure and allocation-free per packet: fixed typed arrays, open addressing with a bounded probe
 * window; when the window is full the least recently seen flow in it goes (counted). Keys are
 * compared in full, so a forged packet cannot pass for a flow by colliding with its hash.
 */

import type { PacketFacts } from "../decode/packet.js";

/** Slots looked at per insert or lookup: bounds the CPU a packet can cost. */
const WINDOW = 8;
const FREE = Number.NEGATIVE_INFINITY;
const EXPIRED = -Number.MAX_VALUE;

export interface OwnFlowsOptions {
  /** Flows remembered (rounded up to a power of two). */
  readonly capacity: number;
  readonly udpIdleMs: number;
  readonly tcpIdleMs: number;
}

export class OwnFlows {
  readonly #mask: number;
  readonly #udpIdleMs: number;
  readonly #tcpIdleMs: number;
  /** Remote address, 16 bytes a slot (IPv4 in the first 4). */
  readonly #remote: Uint8Array;
  /** family << 8 | protocol; 0: free. */
  readonly #kind: Uint16Array;
  readonly #remotePort: Uint16Array;
  readonly #localPort: Uint16Array;
  readonly #lastMs: Float64Array;
  /** Flows remembered now (approximately: expired ones count until reused). */
  size = 0;
  /** Flows forgotten before their idle time because their window was full. */
  evicted = 0;

  constructor(o: OwnFlowsOptions) {
    let n = 1;
    while (n < Math.max(WINDOW, o.capacity)) n *= 2;
    this.#mask = n - 1;
    this.#udpIdleMs = o.udpIdleMs;
    this.#tcpIdleMs = o.tcpIdleMs;
    this.#remote = new Uint8Array(n * 16);
    this.#kind = new Uint16Array(n);
    this.#remotePort = new Uint16Array(n);
    this.#localPort = new Uint16Array(n);
    this.#lastMs = new Float64Array(n);
  }

  /** Bytes the table holds, whatever its use. */
  get bytes(): number {
    return this.#kind.length * (16 + 2 + 2 + 2 + 8);
  }

  /** This host sent `f` (its source is ours): remember or refresh its flow. */
  noteOutgoing(f: PacketFacts, nowMs: number): void {
    const kind = (f.family << 8) | f.protocol;
    const start = hash(kind, f.dst, f.family, f.dstPort, f.srcPort) & this.#mask;
    // The slot to take: a free one, else an expired one, else the least recently seen.
    let victim = start;
    let victimRank = Number.POSITIVE_INFINITY;
    for (let i = 0; i < WINDOW; i++) {
      const slot = (start + i) & this.#mask;
      if (this.#kind[slot] !== 0 && this.#same(slot, kind, f.dst, f.family, f.dstPort, f.srcPort)) {
        this.#lastMs[slot] = nowMs;
        return;
      }
      const rank = this.#rank(slot, nowMs);
      if (rank < victimRank) {
        victim = slot;
        victimRank = rank;
      }
    }
    if (this.#kind[victim] === 0) this.size++;
    else if (victimRank !== EXPIRED) this.evicted++;
    this.#kind[victim] = kind;
    this.#remotePort[victim] = f.dstPort;
    this.#localPort[victim] = f.srcPort;
    this.#lastMs[victim] = nowMs;
    const width = f.family === 4 ? 4 : 16;
    for (let i = 0; i < 16; i++) this.#remote[victim * 16 + i] = i < width ? f.dst[i]! : 0;
  }

  /** `f` (to this host) belongs to a flow this host started and sent on within the idle time. */
  isReply(f: PacketFacts, nowMs: number): boolean {
    const kind = (f.family << 8) | f.protocol;
    const start = hash(kind, f.src, f.family, f.srcPort, f.dstPort) & this.#mask;
    for (let i = 0; i < WINDOW; i++) {
      const slot = (start + i) & this.#mask;
      if (this.#kind[slot] === 0) continue;
      if (this.#same(slot, kind, f.src, f.family, f.srcPort, f.dstPort)) return !this.#expired(slot, nowMs);
    }
    return false;
  }

  /** Free slots first, then expired ones, then the least recently seen. */
  #rank(slot: number, nowMs: number): number {
    if (this.#kind[slot] === 0) return FREE;
    return this.#expired(slot, nowMs) ? EXPIRED : this.#lastMs[slot]!;
  }

  #expired(slot: number, nowMs: number): boolean {
    const idleMs = (this.#kind[slot]! & 0xff) === 6 ? this.#tcpIdleMs : this.#udpIdleMs;
    return nowMs - this.#lastMs[slot]! > idleMs;
  }

  #same(
    slot: number,
    kind: number,
    remote: Uint8Array,
    family: number,
    remotePort: number,
    localPort: number,
  ): boolean {
    if (
      this.#kind[slot] !== kind ||
      this.#remotePort[slot] !== remotePort ||
      this.#localPort[slot] !== localPort
    )
      return false;
    const width = family === 4 ? 4 : 16;
    for (let i = 0; i < width; i++) if (this.#remote[slot * 16 + i] !== remote[i]) return false;
    return true;
  }
}

/** FNV-1a over the flow's key. */
function hash(
  kind: number,
  remote: Uint8Array,
  family: number,
  remotePort: number,
  localPort: number,
): number {
  let h = Math.imul(0x811c9dc5 ^ kind, 0x01000193);
  const width = family === 4 ? 4 : 16;
  for (let i = 0; i < width; i++) h = Math.imul(h ^ remote[i]!, 0x01000193);
  h = Math.imul(h ^ remotePort, 0x01000193);
  h = Math.imul(h ^ localPort, 0x01000193);
  return h >>> 0;
}
