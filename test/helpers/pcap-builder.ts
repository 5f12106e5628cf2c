/** Hand-built frames and capture files (pcap and pcapng, either byte order) for replay tests. */

import { parseIp } from "../../src/decode/address.js";

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

export interface PacketSpec {
  readonly src: string;
  readonly dst: string;
  readonly proto: "tcp" | "udp";
  readonly sport: number;
  readonly dport: number;
  /** TCP flags; default SYN. */
  readonly flags?: number;
  /** IPv4: add 4 bytes of options (NOP NOP NOP EOL). */
  readonly ipOptions?: boolean;
  /** Zero bytes after the TCP/UDP header. */
  readonly payloadBytes?: number;
  /** A TCP/UDP checksum that does not add up (nmap --badsum); otherwise the field is left 0. */
  readonly badChecksum?: boolean;
}

function bytesOf(text: string): Uint8Array {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(`bad address ${text}`);
  return ip.bytes;
}

/** The IPv4 or IPv6 packet (family from the addresses) with a TCP or UDP header. */
export function ipPacket(p: PacketSpec): Uint8Array {
  const l4 = new Uint8Array((p.proto === "tcp" ? 20 : 8) + (p.payloadBytes ?? 0));
  const v = new DataView(l4.buffer);
  v.setUint16(0, p.sport);
  v.setUint16(2, p.dport);
  if (p.proto === "tcp") {
    l4[12] = 5 << 4;
    l4[13] = p.flags ?? SYN;
    v.setUint16(14, 1024);
  } else {
    v.setUint16(4, l4.length);
  }
  // Any non-zero value but the right one (0: "not filled in", not judged).
  if (p.badChecksum === true) v.setUint16(p.proto === "tcp" ? 16 : 6, 0xbad0);
  return withIpHeader(p.src, p.dst, p.proto === "tcp" ? 6 : 17, l4, p.ipOptions ?? false);
}

/** The ICMP port unreachable that `probe`'s destination sends back, quoting the probe. */
export function portUnreachablePacket(probe: PacketSpec): Uint8Array {
  const quoted = ipPacket(probe);
  const v4 = quoted[0]! >> 4 === 4;
  const icmp = new Uint8Array(8 + quoted.length);
  icmp.set(v4 ? [3, 3] : [1, 4], 0);
  icmp.set(quoted, 8);
  return withIpHeader(probe.dst, probe.src, v4 ? 1 : 58, icmp, false);
}

/** `payload` behind an IPv4 or IPv6 header (family from the addresses), TTL 64. */
function withIpHeader(
  srcText: string,
  dstText: string,
  protocol: number,
  payload: Uint8Array,
  ipOptions: boolean,
): Uint8Array {
  const src = bytesOf(srcText);
  const dst = bytesOf(dstText);
  if (src.length === 4) {
    const optionBytes = ipOptions ? 4 : 0;
    const header = 20 + optionBytes;
    const out = new Uint8Array(header + payload.length);
    out[0] = 0x40 | (header / 4);
    new DataView(out.buffer).setUint16(2, out.length);
    out[8] = 64;
    out[9] = protocol;
    out.set(src, 12);
    out.set(dst, 16);
    if (optionBytes > 0) out.set([1, 1, 1, 0], 20);
    out.set(payload, header);
    return out;
  }
  const out = new Uint8Array(40 + payload.length);
  out[0] = 0x60;
  new DataView(out.buffer).setUint16(4, payload.length);
  out[6] = protocol;
  out[7] = 64;
  out.set(src, 8);
  out.set(dst, 24);
  out.set(payload, 40);
  return out;
}

/** The packet (or an IP packet of your own) in an Ethernet frame (LINKTYPE 1). */
export function ethernetFrame(p: PacketSpec | Uint8Array): Uint8Array {
  const ip = p instanceof Uint8Array ? p : ipPacket(p);
  const out = new Uint8Array(14 + ip.length);
  out.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
  new DataView(out.buffer).setUint16(12, ip[0]! >> 4 === 4 ? 0x0800 : 0x86dd);
  out.set(ip, 14);
  return out;
}

export interface PcapRecord {
  readonly seconds: number;
  /** Microseconds, or nanoseconds with `nanos`. */
  readonly fraction: number;
  readonly data: Uint8Array;
  readonly wireLength?: number;
  /** Overrides the captured length field (to build broken files). */
  readonly capturedField?: number;
}

export interface PcapOptions {
  readonly littleEndian?: boolean;
  readonly nanos?: boolean;
  readonly linkType?: number;
}

export function pcapFile(records: readonly PcapRecord[], o: PcapOptions = {}): Uint8Array {
  const le = o.littleEndian ?? true;
  const total = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, 262_144, le);
  v.setUint32(20, o.linkType ?? 1, le);
  let at = 24;
  for (const r of records) {
    v.setUint32(at, r.seconds, le);
    v.setUint32(at + 4, r.fraction, le);
    v.setUint32(at + 8, r.capturedField ?? r.data.length, le);
    v.setUint32(at + 12, r.wireLength ?? r.data.length, le);
    out.set(r.data, at + 16);
    at += 16 + r.data.length;
  }
  return out;
}

/** pcapng blocks, built one at a time and joined with `pcapngFile`. */
export class PcapngWriter {
  readonly #le: boolean;
  readonly #blocks: Uint8Array[] = [];

  constructor(littleEndian = true) {
    this.#le = littleEndian;
    this.#block(0x0a0d0d0a, (le) => {
      const body = new Uint8Array(16);
      const b = new DataView(body.buffer);
      b.setUint32(0, 0x1a2b3c4d, le);
      b.setUint16(4, 1, le);
      b.setUint16(6, 0, le);
      b.setBigInt64(8, -1n, le);
      return body;
    });
  }

  /** An interface; `tsresol` is the if_tsresol byte (default: none, i.e. µs). */
  interface(linkType: number, o: { tsresol?: number; tsoffsetSec?: bigint; snapLength?: number } = {}): this {
    this.#block(1, (le) => {
      const options: Uint8Array[] = [];
      if (o.tsresol !== undefined) options.push(option(9, new Uint8Array([o.tsresol]), le));
      if (o.tsoffsetSec !== undefined) {
        const value = new Uint8Array(8);
        new DataView(value.buffer).setBigInt64(0, o.tsoffsetSec, le);
        options.push(option(14, value, le));
      }
      if (options.length > 0) options.push(option(0, new Uint8Array(0), le));
      const head = new Uint8Array(8);
      const h = new DataView(head.buffer);
      h.setUint16(0, linkType, le);
      h.setUint32(4, o.snapLength ?? 0, le);
      return concat(head, ...options);
    });
    return this;
  }

  /** An enhanced packet block; `ticks` in the interface's resolution. */
  packet(iface: number, ticks: bigint, data: Uint8Array, wireLength = data.length): this {
    this.#block(6, (le) => {
      const head = new Uint8Array(20);
      const h = new DataView(head.buffer);
      h.setUint32(0, iface, le);
      h.setUint32(4, Number(ticks >> 32n), le);
      h.setUint32(8, Number(ticks & 0xffffffffn), le);
      h.setUint32(12, data.length, le);
      h.setUint32(16, wireLength, le);
      return concat(head, pad4(data));
    });
    return this;
  }

  /** A simple packet block (interface 0, no time). */
  simple(data: Uint8Array): this {
    this.#block(3, (le) => {
      const head = new Uint8Array(4);
      new DataView(head.buffer).setUint32(0, data.length, le);
      return concat(head, pad4(data));
    });
    return this;
  }

  /** The obsolete packet block (type 2). */
  obsoletePacket(iface: number, ticks: bigint, data: Uint8Array): this {
    this.#block(2, (le) => {
      const head = new Uint8Array(20);
      const h = new DataView(head.buffer);
      h.setUint16(0, iface, le);
      h.setUint32(4, Number(ticks >> 32n), le);
      h.setUint32(8, Number(ticks & 0xffffffffn), le);
      h.setUint32(12, data.length, le);
      h.setUint32(16, data.length, le);
      return concat(head, pad4(data));
    });
    return this;
  }

  /** Any other block type with an opaque body (name resolution 4, statistics 5, …). */
  other(type: number, body: Uint8Array): this {
    this.#block(type, () => pad4(body));
    return this;
  }

  bytes(): Uint8Array {
    return concat(...this.#blocks);
  }

  #block(type: number, body: (le: boolean) => Uint8Array): void {
    const content = body(this.#le);
    const length = 12 + content.length;
    const out = new Uint8Array(length);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, this.#le);
    v.setUint32(4, length, this.#le);
    out.set(content, 8);
    v.setUint32(length - 4, length, this.#le);
    this.#blocks.push(out);
  }
}

function option(code: number, value: Uint8Array, le: boolean): Uint8Array {
  const head = new Uint8Array(4);
  const v = new DataView(head.buffer);
  v.setUint16(0, code, le);
  v.setUint16(2, value.length, le);
  return concat(head, pad4(value));
}

function pad4(b: Uint8Array): Uint8Array {
  const out = new Uint8Array((b.length + 3) & ~3);
  out.set(b);
  return out;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * `p`'s IP packet split into fragments of `chunk` payload bytes (a multiple of 8 but the last;
 * nmap -f: 8, -ff: 16), IPv4 or IPv6 (a fragment header), with identification `id`.
 */
export function fragmentPackets(p: PacketSpec, chunk: number, id = 0x1234): Uint8Array[] {
  const whole = ipPacket(p);
  const v4 = whole[0]! >> 4 === 4;
  const header = v4 ? (whole[0]! & 0x0f) * 4 : 40;
  const payload = whole.subarray(header);
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += chunk) {
    const part = payload.subarray(at, Math.min(payload.length, at + chunk));
    const more = at + chunk < payload.length ? 1 : 0;
    if (v4) {
      const frag = new Uint8Array(header + part.length);
      frag.set(whole.subarray(0, header), 0);
      const v = new DataView(frag.buffer);
      v.setUint16(2, frag.length);
      v.setUint16(4, id);
      v.setUint16(6, (more << 13) | (at / 8));
      frag.set(part, header);
      out.push(frag);
    } else {
      const frag = new Uint8Array(48 + part.length);
      frag.set(whole.subarray(0, 40), 0);
      const v = new DataView(frag.buffer);
      v.setUint16(4, 8 + part.length);
      frag[6] = 44;
      frag[40] = whole[6]!; // the upper protocol follows the fragment header
      v.setUint16(42, at | more);
      v.setUint32(44, id);
      frag.set(part, 48);
      out.push(frag);
    }
  }
  return out;
}

/** An IP packet of another protocol (nmap -sO: 47 GRE; -sY: 132 SCTP) with `payload`. */
export function rawIpPacket(src: string, dst: string, protocol: number, payload: Uint8Array): Uint8Array {
  return withIpHeader(src, dst, protocol, payload, false);
}
