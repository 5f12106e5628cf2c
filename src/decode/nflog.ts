/**
 * NFLOG frames (pcap LINKTYPE_NFLOG, 239, what libpcap's `nflog:G` device delivers) → the
 * logged IP packet and the rule's log prefix. Pure; never throws: bad input is a result.
 *
 * Layout (pcap-linktype(7), Linux nfnetlink_log):
 *
 *   0 u8  address family (2 AF_INET, 10 AF_INET6)   2 u16 resource id = NFLOG group (big-endian)
 *   1 u8  version (0)
 *   4 TLVs: u16 length (header included), u16 type, value, padded to a multiple of 4
 *
 * The TLV length and type are in the byte order of the host that captured (little-endian on
 * x86 and arm64, which is what a live capture here gives); values are in network order, the
 * prefix is a NUL-terminated string. The top two bits of the type are netlink flags.
 */

import { LinkType } from "./packet.js";

export const LINKTYPE_NFLOG = 239;

const AF_INET = 2;
const AF_INET6 = 10;
const NFULA_PACKET_HDR = 1;
const NFULA_IFINDEX_INDEV = 4;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const TLV_TYPE_MASK = 0x3fff;
/** Prefixes are at most 127 characters in nft; longer text is cut, never trusted further. */
const MAX_PREFIX_CHARS = 128;

export type NflogStatus =
  /** shorter than the 4-byte header, or a TLV runs past the end */
  | "truncated"
  /** version is not 0 */
  | "bad-version"
  /** a TLV whose length is below its own 4-byte header */
  | "bad-tlv"
  /** neither AF_INET nor AF_INET6 */
  | "not-ip"
  /** no payload TLV (the rule logged without copying the packet) */
  | "no-payload";

export type NflogResult =
  | {
      readonly ok: true;
      readonly family: 4 | 6;
      /** The NFLOG group the rule logged to. */
      readonly group: number;
      /** The rule's `log prefix`, "" when it had none; printable ASCII only. */
      readonly prefix: string;
      /** Index of the interface the packet came in on, when the kernel said. */
      readonly inIfindex: number | undefined;
      /** The netfilter hook number (0 = prerouting), when the kernel said. */
      readonly hook: number | undefined;
      /** The logged IP packet (a view into `frame`), as many bytes as the rule copied. */
      readonly payload: Uint8Array;
      /** The link type to decode `payload` with (`decodeFrame`). */
      readonly payloadLinkType: number;
    }
  | { readonly ok: false; readonly status: NflogStatus };

/** Decodes one NFLOG frame; `littleEndian` is the capturing host's byte order of TLV headers. */
export function decodeNflog(frame: Uint8Array, littleEndian = true): NflogResult {
  if (frame.length < 4) return { ok: false, status: "truncated" };
  if (frame[1] !== 0) return { ok: false, status: "bad-version" };
  const af = frame[0];
  if (af !== AF_INET && af !== AF_INET6) return { ok: false, status: "not-ip" };
  const group = (frame[2]! << 8) | frame[3]!;
  const host16 = (i: number) =>
    littleEndian ? frame[i]! | (frame[i + 1]! << 8) : (frame[i]! << 8) | frame[i + 1]!;
  let prefix = "";
  let inIfindex: number | undefined;
  let hook: number | undefined;
  let payload: Uint8Array | undefined;
  let at = 4;
  while (at < frame.length) {
    if (at + 4 > frame.length) return { ok: false, status: "truncated" };
    const length = host16(at);
    const type = host16(at + 2) & TLV_TYPE_MASK;
    if (length < 4) return { ok: false, status: "bad-tlv" };
    if (at + length > frame.length) return { ok: false, status: "truncated" };
    const value = at + 4;
    const valueLength = length - 4;
    switch (type) {
      case NFULA_PAYLOAD:
        payload = frame.subarray(value, value + valueLength);
        break;
      case NFULA_PREFIX:
        prefix = asciiUntilNul(frame, value, valueLength);
        break;
      case NFULA_IFINDEX_INDEV:
        if (valueLength >= 4) inIfindex = be32(frame, value);
        break;
      case NFULA_PACKET_HDR:
        // __be16 hw_protocol, u8 hook, u8 pad
        if (valueLength >= 3) hook = frame[value + 2];
        break;
    }
    at += (length + 3) & ~3;
  }
  if (payload === undefined) return { ok: false, status: "no-payload" };
  return {
    ok: true,
    family: af === AF_INET ? 4 : 6,
    group,
    prefix,
    inIfindex,
    hook,
    payload,
    payloadLinkType: af === AF_INET ? LinkType.IPV4 : LinkType.IPV6,
  };
}

/**
 * An NFLOG frame as the kernel lays it out on this host (little-endian TLV headers): the
 * prefix and the IP packet. For synthetic frames (the kernel trap path's warm-up, tests).
 */
export function encodeNflog(family: 4 | 6, group: number, prefix: string, packet: Uint8Array): Uint8Array {
  const tlv = (type: number, value: Uint8Array): number[] => {
    const length = 4 + value.length;
    const out = [length & 0xff, length >> 8, type & 0xff, type >> 8, ...value];
    while (out.length % 4 !== 0) out.push(0);
    return out;
  };
  const text = Uint8Array.from([...prefix].map((c) => c.charCodeAt(0) & 0x7f).concat(0));
  return Uint8Array.from([
    family === 4 ? AF_INET : AF_INET6,
    0,
    (group >> 8) & 0xff,
    group & 0xff,
    ...tlv(NFULA_PREFIX, text),
    ...tlv(NFULA_PAYLOAD, packet),
  ]);
}

function be32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** Printable ASCII up to the first NUL; any other byte becomes "?". */
function asciiUntilNul(b: Uint8Array, from: number, length: number): string {
  let s = "";
  const end = Math.min(from + length, from + MAX_PREFIX_CHARS);
  for (let i = from; i < end; i++) {
    const c = b[i]!;
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return s;
}

/**
 * The source address of an IP packet whose transport header could not be decoded (a kernel
 * block must still be recorded). Undefined when even the IP header is cut short.
 */
export function ipSourceOf(packet: Uint8Array, family: 4 | 6): Uint8Array | undefined {
  if (family === 4) return packet.length >= 20 && packet[0]! >> 4 === 4 ? packet.slice(12, 16) : undefined;
  return packet.length >= 40 && packet[0]! >> 4 === 6 ? packet.slice(8, 24) : undefined;
}
