/**
 * Enough of a fragmented TCP/UDP header put back together to classify it (issue #14): `nmap -f`
 * and `--mtu 8` send the ports in one 8-byte fragment and the flags in the next, `-ff` 16 bytes
 * and the rest; a tiny IPv6 first fragment likewise. The kernel reassembles them and answers
 * (RST), so the probe is as real as any other and must be judged with its port and flags.
 *
 * Only the first `HEAD_BYTES` of a datagram's payload are kept: a fragment that starts past them
 * (any ordinary fragmented datagram's later parts) costs nothing. Once the bytes up to the
 * flags (TCP) or the ports (UDP) are in, `PacketFacts` is filled as for a whole packet and the
 * entry is gone: one datagram, one probe.
 *
 * Keyed by the sender's values (addresses, identification, protocol), so bounded like every
 * such table: `capacity` entries in open addressing with a probe window of 8; a full window
 * gives up its oldest entry (counted in `evicted`); an entry older than `timeoutMs` (the
 * kernel's ipfrag_time is 30 s) is free for reuse (counted in `expired` when reused). Pure and
 * allocation-free per fragment.
 */

import type { PacketFacts } from "./packet.js";

/** Payload bytes of a datagram kept: TCP's flags are at 13, its longest header is 60. */
const HEAD_BYTES = 64;
/** Bytes that must be in before a header is judged: TCP up to the flags, UDP its ports. */
const NEED_TCP = 14;
const NEED_UDP = 8;
const WINDOW = 8;
const FREE = Number.NEGATIVE_INFINITY;
const EXPIRED = -Number.MAX_VALUE;

export interface FragmentOptions {
  readonly capacity: number;
  readonly timeoutMs: number;
}

export class FragmentHeads {
  readonly #mask: number;
  readonly #timeoutMs: number;
  /** Source then destination address, 32 bytes a slot. */
  readonly #addr: Uint8Array;
  readonly #id: Uint32Array;
  /** family << 8 | protocol; 0: free. */
  readonly #kind: Uint16Array;
  readonly #firstMs: Float64Array;
  readonly #head: Uint8Array;
  /** One bit per byte of the head that is in (64 bits as two words). */
  readonly #haveLo: Uint32Array;
  readonly #haveHi: Uint32Array;
  readonly #ipOptions: Uint8Array;
  /** Entries given up because their window was full. */
  evicted = 0;
  /** Entries reused after `timeoutMs` without completing. */
  expired = 0;
  /** Headers completed (each became one packet's facts). */
  completed = 0;

  constructor(o: FragmentOptions) {
    let n = 1;
    while (n < Math.max(WINDOW, o.capacity)) n *= 2;
    this.#mask = n - 1;
    this.#timeoutMs = o.timeoutMs;
    this.#addr = new Uint8Array(n * 32);
    this.#id = new Uint32Array(n);
    this.#kind = new Uint16Array(n);
    this.#firstMs = new Float64Array(n);
    this.#head = new Uint8Array(n * HEAD_BYTES);
    this.#haveLo = new Uint32Array(n);
    this.#haveHi = new Uint32Array(n);
    this.#ipOptions = new Uint8Array(n);
  }

  /** Bytes the table holds, whatever its use. */
  get bytes(): number {
    return this.#kind.length * (32 + 4 + 2 + 8 + HEAD_BYTES + 8 + 1);
  }

  /**
   * A fragment (decodeFrame said "fragment" or "tiny-fragment"; `f` holds its fields) of
   * `frame`. True when the datagram's header is now complete: `f` then holds its facts (ports,
   * flags; `firstFragment` set) as if decodeFrame had said "ok".
   */
  add(frame: Uint8Array, f: PacketFacts, nowMs: number, captured: number = frame.length): boolean {
    const protocol = f.fragProtocol;
    if (protocol !== 6 && protocol !== 17) return false;
    if (f.fragOffset >= HEAD_BYTES) return false;
    const slot = this.#slot(f, nowMs);
    const base = slot * HEAD_BYTES;
    const end = Math.min(f.fragEnd, captured, frame.length);
    for (let at = f.fragStart, i = f.fragOffset; at < end && i < HEAD_BYTES; at++, i++) {
      this.#head[base + i] = frame[at]!;
      if (i < 32) this.#haveLo[slot] = (this.#haveLo[slot]! | (1 << i)) >>> 0;
      else this.#haveHi[slot] = (this.#haveHi[slot]! | (1 << (i - 32))) >>> 0;
    }
    if (f.fragOffset === 0) this.#ipOptions[slot] = f.ipOptions ? 1 : 0;
    const need = protocol === 6 ? NEED_TCP : NEED_UDP;
    if (!this.#hasFirst(slot, need)) return false;
    const h = this.#head;
    f.protocol = protocol;
    f.srcPort = (h[base]! << 8) | h[base + 1]!;
    f.dstPort = (h[base + 2]! << 8) | h[base + 3]!;
    f.tcpFlags = protocol === 6 ? h[base + 13]! : 0;
    f.ipOptions = this.#ipOptions[slot] === 1;
    f.firstFragment = true;
    f.icmpUnreachable = false;
    f.payloadLength = 0;
    this.#kind[slot] = 0;
    this.completed++;
    return true;
  }

  /** The first `need` (≤ 32) bytes of the head are in. */
  #hasFirst(slot: number, need: number): boolean {
    const mask = (2 ** need - 1) >>> 0;
    return (this.#haveLo[slot]! & mask) >>> 0 === mask;
  }

  /** The entry of `f`'s datagram: found, or taken (free, expired, else the oldest in the window). */
  #slot(f: PacketFacts, nowMs: number): number {
    const kind = (f.family << 8) | f.fragProtocol;
    const width = f.family === 4 ? 4 : 16;
    let h = Math.imul(0x811c9dc5 ^ kind, 0x01000193);
    h = Math.imul(h ^ f.fragId, 0x01000193);
    for (let i = 0; i < width; i++) h = Math.imul(h ^ f.src[i]!, 0x01000193);
    for (let i = 0; i < width; i++) h = Math.imul(h ^ f.dst[i]!, 0x01000193);
    const start = (h >>> 0) & this.#mask;
    let victim = start;
    let victimRank = Number.POSITIVE_INFINITY;
    for (let k = 0; k < WINDOW; k++) {
      const slot = (start + k) & this.#mask;
      const stale = this.#kind[slot] !== 0 && nowMs - this.#firstMs[slot]! > this.#timeoutMs;
      if (this.#kind[slot] === kind && this.#id[slot] === f.fragId && !stale && this.#same(slot, f, width))
        return slot;
      const rank = this.#kind[slot] === 0 ? FREE : stale ? EXPIRED : this.#firstMs[slot]!;
      if (rank < victimRank) {
        victim = slot;
        victimRank = rank;
      }
    }
    if (victimRank === EXPIRED) this.expired++;
    else if (victimRank !== FREE) this.evicted++;
    this.#kind[victim] = kind;
    this.#id[victim] = f.fragId;
    this.#firstMs[victim] = nowMs;
    this.#haveLo[victim] = 0;
    this.#haveHi[victim] = 0;
    this.#ipOptions[victim] = 0;
    const a = victim * 32;
    for (let i = 0; i < 16; i++) {
      this.#addr[a + i] = i < width ? f.src[i]! : 0;
      this.#addr[a + 16 + i] = i < width ? f.dst[i]! : 0;
    }
    return victim;
  }

  #same(slot: number, f: PacketFacts, width: number): boolean {
    const a = slot * 32;
    for (let i = 0; i < width; i++) {
      if (this.#addr[a + i] !== f.src[i] || this.#addr[a + 16 + i] !== f.dst[i]) return false;
    }
    return true;
  }
}
