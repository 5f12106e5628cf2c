/**
 * One captured frame → the few facts detection needs (addresses, ports, TCP flags, IP options).
 *
 * Pure (no node: imports) and hot: it runs once per captured packet, so it writes into a
 * caller-owned `PacketFacts` instead of allocating, and reports bad input as a status code
 * (counted by the caller) instead of throwing. Out-of-range reads on a Uint8Array yield
 * `undefined`, never an exception; every read below is bounds-checked first anyway.
 */

import { formatIpv4, formatIpv6, formatSourceIp, type IpFamily } from "./address.js";

/** Link-layer header types (pcap LINKTYPE_* / DLT_* values) the decoder understands. */
export const LinkType = {
  /** BSD loopback: 4-byte address family in host byte order. */
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as libpcap reports it live on Linux. */
  RAW: 12,
  /** LINKTYPE_RAW as written in pcap files. */
  RAW_FILE: 101,
  /** OpenBSD loopback: like NULL, network byte order. */
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Why a frame was not decoded. Every value except "ok" means: count it and drop it. */
export type DecodeStatus =
  | "ok"
  /** the capture's link type is not one of `LinkType` */
  | "unsupported-link"
  /** the captured bytes end before a header we need (short frame or small snaplen) */
  | "truncated"
  /** link layer carries something other than IPv4/IPv6 (ARP, LLDP, too many VLAN tags) */
  | "not-ip"
  /** IP version or header length field impossible */
  | "bad-ip-header"
  /** IP total / payload length disagrees with the header length or the frame's length on the wire */
  | "bad-ip-length"
  /** a non-first fragment: no L4 header to read */
  | "fragment"
  /** a first fragment too short to hold the whole L4 header (e.g. nmap -f) */
  | "tiny-fragment"
  /** IPv6 extension header misplaced or running past the end of the datagram */
  | "bad-ext-header"
  /** more IPv6 extension headers than `MAX_IPV6_EXT_HEADERS` */
  | "too-many-ext-headers"
  /** neither TCP nor UDP (ICMP, ESP, no next header, ...) */
  | "not-tcp-udp"
  /** TCP data offset < 5 or larger than the segment */
  | "bad-tcp-header"
  /** UDP length field < 8 or larger than the datagram */
  | "bad-udp-header";

/** Every status, e.g. to pre-create one counter each. */
export const DECODE_STATUSES: readonly DecodeStatus[] = [
  "ok",
  "unsupported-link",
  "truncated",
  "not-ip",
  "bad-ip-header",
  "bad-ip-length",
  "fragment",
  "tiny-fragment",
  "bad-ext-header",
  "too-many-ext-headers",
  "not-tcp-udp",
  "bad-tcp-header",
  "bad-udp-header",
];

/** Bound on IPv6 extension headers walked per packet, so a chain of them costs bounded CPU. */
export const MAX_IPV6_EXT_HEADERS = 8;

/** VLAN tags (802.1Q / 802.1ad) skipped before giving up with "not-ip". */
const MAX_VLAN_TAGS = 2;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMP = 1;
const PROTO_ICMPV6 = 58;

/** Linux packet type "sent by us" in the cooked (SLL/SLL2) headers. */
const PACKET_OUTGOING = 4;

/**
 * The decoded facts of one packet. Reused from packet to packet: after a status other than
 * "ok" its fields are unspecified. Copy what must outlive the next `decodeFrame` call.
 */
export class PacketFacts {
  family: IpFamily = 4;
  /** 6 (TCP) or 17 (UDP). */
  protocol: 6 | 17 = 6;
  /** Source address bytes: 4 used for IPv4, 16 for IPv6 (copied: capture buffers get reused). */
  readonly src = new Uint8Array(16);
  readonly dst = new Uint8Array(16);
  /** IPv4 only: the source address as an unsigned 32-bit number, for cheap table keys. */
  srcV4 = 0;
  /** IPv4 only: the destination address as an unsigned 32-bit number. */
  dstV4 = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN 0x01 … CWR 0x80); 0 for UDP. */
  tcpFlags = 0;
  /** IPv4 header longer than 20 bytes (1.2 logs this as a detection avoidance technique). */
  ipOptions = false;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  /** The first fragment of a fragmented datagram (its L4 header is complete). */
  firstFragment = false;
  /** The link header says this host sent the frame (Linux cooked capture only). */
  outgoing = false;
  /** L4 payload bytes in this packet according to the IP/UDP lengths (not the capture). */
  payloadLength = 0;
  /** Where the TCP/UDP header starts in the frame, and where the IP datagram ends (checksum.ts). */
  l4Start = 0;
  l4End = 0;
  /**
   * Status "fragment" or "tiny-fragment": the fragment's identification, the upper protocol,
   * its offset in the datagram's payload (bytes), and where its bytes lie in the frame
   * (fragments.ts puts enough of a header back together to classify).
   */
  fragId = 0;
  fragProtocol = 0;
  fragOffset = 0;
  fragStart = 0;
  fragEnd = 0;
  /**
   * An ICMP port unreachable quoting a UDP datagram from the packet's destination: the sender
   * says nothing listens on the quoted port. Reported as UDP with the quote's ports mirrored,
   * like a reply: `srcPort` the port the datagram went to, `dstPort` the one it came from.
   */
  icmpUnreachable = false;
}

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

/**
 * Decodes one frame. `wireLength` is the frame's length on the wire (pcap `len`) when it
 * differs from the captured bytes (`caplen`, a short snaplen): headers must be captured, but
 * the IP length is checked against the wire. `capturedLength`: how many of `frame`'s bytes are
 * the frame (a live capture hands over fixed-size slots); nothing past it is read.
 */
export function decodeFrame(
  frame: Uint8Array,
  linkType: number,
  out: PacketFacts,
  wireLength: number = frame.length,
  capturedLength: number = frame.length,
): DecodeStatus {
  out.outgoing = false;
  const captured = Math.min(capturedLength, frame.length);
  let offset: number;
  let etherType: number;
  switch (linkType) {
    case LinkType.ETHERNET:
      if (captured < 14) return "truncated";
      etherType = u16(frame, 12);
      offset = 14;
      break;
    case LinkType.LINUX_SLL:
      if (captured < 16) return "truncated";
      out.outgoing = u16(frame, 0) === PACKET_OUTGOING;
      etherType = u16(frame, 14);
      offset = 16;
      break;
    case LinkType.LINUX_SLL2:
      if (captured < 20) return "truncated";
      out.outgoing = frame[10] === PACKET_OUTGOING;
      etherType = u16(frame, 0);
      offset = 20;
      break;
    case LinkType.RAW:
    case LinkType.RAW_FILE:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return decodeIp(frame, captured, 0, out, wireLength);
    case LinkType.NULL:
    case LinkType.LOOP:
      // The 4-byte family value differs between systems; the IP version nibble does not.
      return decodeIp(frame, captured, 4, out, wireLength);
    default:
      return "unsupported-link";
  }
  for (let tags = 0; ; tags++) {
    if (etherType === ETHERTYPE_IPV4 || etherType === ETHERTYPE_IPV6) break;
    const isVlan =
      etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD;
    if (!isVlan || tags === MAX_VLAN_TAGS) return "not-ip";
    if (captured < offset + 4) return "truncated";
    etherType = u16(frame, offset + 2);
    offset += 4;
  }
  if (captured <= offset) return "truncated";
  // The ethertype and the IP version nibble must agree.
  if (frame[offset]! >> 4 !== (etherType === ETHERTYPE_IPV4 ? 4 : 6)) return "bad-ip-header";
  return decodeIp(frame, captured, offset, out, wireLength);
}

function decodeIp(
  b: Uint8Array,
  captured: number,
  ip: number,
  out: PacketFacts,
  wireLength: number,
): DecodeStatus {
  if (captured <= ip) return "truncated";
  const version = b[ip]! >> 4;
  if (version === 4) return decodeIpv4(b, captured, ip, out, wireLength);
  if (version === 6) return decodeIpv6(b, captured, ip, out, wireLength);
  return "bad-ip-header";
}

function decodeIpv4(
  b: Uint8Array,
  captured: number,
  ip: number,
  out: PacketFacts,
  wireLength: number,
): DecodeStatus {
  if (captured < ip + 20) return "truncated";
  const headerLength = (b[ip]! & 0x0f) * 4;
  if (headerLength < 20) return "bad-ip-header";
  if (captured < ip + headerLength) return "truncated";
  const totalLength = u16(b, ip + 2);
  if (totalLength < headerLength || ip + totalLength > wireLength) return "bad-ip-length";
  const fragmentField = u16(b, ip + 6);
  out.family = 4;
  out.firstFragment = (fragmentField & 0x2000) !== 0;
  out.ipOptions = headerLength > 20;
  out.ttl = b[ip + 8]!;
  const src = out.src;
  const dst = out.dst;
  for (let i = 0; i < 4; i++) {
    src[i] = b[ip + 12 + i]!;
    dst[i] = b[ip + 16 + i]!;
  }
  out.srcV4 = ((src[0]! << 24) | (src[1]! << 16) | (src[2]! << 8) | src[3]!) >>> 0;
  out.dstV4 = ((dst[0]! << 24) | (dst[1]! << 16) | (dst[2]! << 8) | dst[3]!) >>> 0;
  out.fragId = u16(b, ip + 4);
  out.fragProtocol = b[ip + 9]!;
  out.fragOffset = (fragmentField & 0x1fff) * 8;
  out.fragStart = ip + headerLength;
  out.fragEnd = ip + totalLength;
  if (out.fragOffset !== 0) return "fragment";
  return decodeL4(b, captured, b[ip + 9]!, ip + headerLength, ip + totalLength, out);
}

function decodeIpv6(
  b: Uint8Array,
  captured: number,
  ip: number,
  out: PacketFacts,
  wireLength: number,
): DecodeStatus {
  if (captured < ip + 40) return "truncated";
  const end = ip + 40 + u16(b, ip + 4);
  if (end > wireLength) return "bad-ip-length";
  out.family = 6;
  out.firstFragment = false;
  out.ipOptions = false;
  out.ttl = b[ip + 7]!;
  out.srcV4 = 0;
  out.dstV4 = 0;
  for (let i = 0; i < 16; i++) {
    out.src[i] = b[ip + 8 + i]!;
    out.dst[i] = b[ip + 24 + i]!;
  }
  let next = b[ip + 6]!;
  let offset = ip + 40;
  for (let count = 0; ; count++) {
    if (next === PROTO_TCP || next === PROTO_UDP || next === PROTO_ICMPV6) {
      return decodeL4(b, captured, next, offset, end, out);
    }
    // Hop-by-hop, routing, fragment, destination options, AH; everything else (ESP 50,
    // no next header 59, ...) has no port to report.
    if (next !== 0 && next !== 43 && next !== 44 && next !== 60 && next !== 51) return "not-tcp-udp";
    if (next === 0 && count > 0) return "bad-ext-header"; // RFC 8200: hop-by-hop only first
    if (count === MAX_IPV6_EXT_HEADERS) return "too-many-ext-headers";
    if (captured < offset + 8) return "truncated"; // every extension header is >= 8 bytes
    let length: number;
    if (next === 44) {
      out.fragId = ((u16(b, offset + 4) << 16) | u16(b, offset + 6)) >>> 0;
      out.fragProtocol = b[offset]!;
      out.fragOffset = u16(b, offset + 2) & 0xfff8;
      out.fragStart = offset + 8;
      out.fragEnd = end;
      if (out.fragOffset !== 0) return "fragment";
      out.firstFragment = (b[offset + 3]! & 1) !== 0;
      length = 8;
    } else if (next === 51) {
      length = (b[offset + 1]! + 2) * 4;
    } else {
      length = (b[offset + 1]! + 1) * 8;
    }
    if (offset + length > end) return "bad-ext-header";
    next = b[offset]!;
    offset += length;
  }
}

/** `l4` is where the TCP/UDP header starts, `end` where the IP datagram (by its length field) ends. */
function decodeL4(
  b: Uint8Array,
  captured: number,
  protocol: number,
  l4: number,
  end: number,
  out: PacketFacts,
): DecodeStatus {
  const available = end - l4;
  out.icmpUnreachable = false;
  out.l4Start = l4;
  out.l4End = end;
  if (protocol === (out.family === 4 ? PROTO_ICMP : PROTO_ICMPV6))
    return decodeUnreachable(b, captured, l4, end, out);
  if (protocol === PROTO_TCP) {
    if (available < 20) return out.firstFragment ? "tiny-fragment" : "bad-tcp-header";
    if (captured < l4 + 20) return "truncated";
    const headerLength = (b[l4 + 12]! >> 4) * 4;
    if (headerLength < 20) return "bad-tcp-header";
    if (headerLength > available) return out.firstFragment ? "tiny-fragment" : "bad-tcp-header";
    out.protocol = PROTO_TCP;
    out.tcpFlags = b[l4 + 13]!;
    out.payloadLength = available - headerLength;
  } else if (protocol === PROTO_UDP) {
    if (available < 8) return out.firstFragment ? "tiny-fragment" : "bad-udp-header";
    if (captured < l4 + 8) return "truncated";
    const udpLength = u16(b, l4 + 4);
    // A first fragment's UDP length covers the whole reassembled datagram.
    if (udpLength < 8 || (!out.firstFragment && udpLength > available)) return "bad-udp-header";
    out.protocol = PROTO_UDP;
    out.tcpFlags = 0;
    out.payloadLength = (out.firstFragment ? available : udpLength) - 8;
  } else {
    return "not-tcp-udp";
  }
  out.srcPort = u16(b, l4);
  out.dstPort = u16(b, l4 + 2);
  return "ok";
}

/**
 * ICMP destination unreachable, port unreachable (IPv4 type 3 code 3, ICMPv6 type 1 code 4),
 * quoting the IP header and the UDP header of a datagram that the packet's destination sent.
 * Anything else ICMP has no port to report ("not-tcp-udp").
 */
function decodeUnreachable(
  b: Uint8Array,
  captured: number,
  icmp: number,
  end: number,
  out: PacketFacts,
): DecodeStatus {
  const v4 = out.family === 4;
  if (end - icmp < 8) return "not-tcp-udp";
  if (captured < icmp + 8) return "truncated";
  if (b[icmp] !== (v4 ? 3 : 1) || b[icmp + 1] !== (v4 ? 3 : 4)) return "not-tcp-udp";
  const quote = icmp + 8;
  const quotedHeader = v4 ? (b[quote]! & 0x0f) * 4 : 40;
  const udp = quote + quotedHeader;
  if (end < udp + 8 || (v4 && quotedHeader < 20)) return "not-tcp-udp";
  if (captured < udp + 8) return "truncated";
  if (b[quote]! >> 4 !== out.family || b[quote + (v4 ? 9 : 6)] !== PROTO_UDP) return "not-tcp-udp";
  // The quoted datagram came from the host this answer goes to.
  const width = v4 ? 4 : 16;
  const quotedSource = quote + (v4 ? 12 : 8);
  for (let i = 0; i < width; i++) if (b[quotedSource + i] !== out.dst[i]) return "not-tcp-udp";
  out.protocol = PROTO_UDP;
  out.tcpFlags = 0;
  out.payloadLength = 0;
  out.icmpUnreachable = true;
  out.srcPort = u16(b, udp + 2);
  out.dstPort = u16(b, udp);
  return "ok";
}

/**
 * The source address as canonical text, an IPv4-mapped one as IPv4 (formatSourceIp; allocates:
 * call it for hits, not for every packet).
 */
export function formatSource(facts: PacketFacts): string {
  return formatSourceIp(facts.family, facts.src);
}

/** The destination address as canonical text. */
export function formatDestination(facts: PacketFacts): string {
  return facts.family === 4 ? formatIpv4(facts.dst) : formatIpv6(facts.dst);
}
