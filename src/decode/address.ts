/**
 * IP addresses as validated values. Pure: no node: imports.
 *
 * Text form is canonical (IPv4 dotted quad, IPv6 per RFC 5952), so that one host has one
 * key in every table and one spelling in every file and command line.
 */

export type IpFamily = 4 | 6;

/** A parsed address: 4 or 16 network-order bytes. */
export interface IpBytes {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
}

const HEX = /^[0-9a-fA-F]{1,4}$/;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

/**
 * Parses a dotted quad (exactly four decimal octets, no leading zeros beyond "0"). A scan of
 * char codes: it runs for every hit (the ignore list), so it splits and allocates nothing.
 */
function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT; // the end closes the last octet
    if (c === DOT) {
      if (digits === 0 || part > 3) return false;
      out[offset + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      if (digits === 1 && value === 0) return false; // a leading zero: octal ambiguity, refused
      value = value * 10 + (c - ZERO);
      digits++;
      if (digits > 3 || value > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let body = text;
  // An embedded IPv4 tail (::ffff:192.0.2.1) is rewritten as two hex groups.
  const lastColon = body.lastIndexOf(":");
  const tailText = body.slice(lastColon + 1);
  if (tailText.includes(".")) {
    const v4 = new Uint8Array(4);
    if (!parseIpv4Into(tailText, v4, 0)) return undefined;
    const g1 = ((v4[0]! << 8) | v4[1]!).toString(16);
    const g2 = ((v4[2]! << 8) | v4[3]!).toString(16);
    body = `${body.slice(0, lastColon + 1)}${g1}:${g2}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const out = new Uint8Array(16);
  const write = (groups: readonly string[], startByte: number): boolean => {
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (!HEX.test(g)) return false;
      const v = Number.parseInt(g, 16);
      out[startByte + 2 * i] = v >> 8;
      out[startByte + 2 * i + 1] = v & 0xff;
    }
    return true;
  };
  if (!write(head, 0) || !write(tail, 16 - 2 * tail.length)) return undefined;
  return out;
}

/** Parses IPv4 or IPv6 text (no zone, no brackets, no prefix). */
export function parseIp(text: string): IpBytes | undefined {
  if (text.includes(":")) {
    const bytes = parseIpv6(text);
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = new Uint8Array(4);
  return parseIpv4Into(text, bytes, 0) ? { family: 4, bytes } : undefined;
}

export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952: lower case, no leading zeros, longest run (>1) of zero groups as "::". */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export function formatIp(ip: IpBytes): string {
  return ip.family === 4 ? formatIpv4(ip.bytes) : formatIpv6(ip.bytes);
}

/** The canonical text of an address, or undefined when `text` is not an address. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) → the IPv4 address; anything else unchanged. */
export function unmapIpv4(ip: IpBytes): IpBytes {
  if (ip.family !== 6) return ip;
  const b = ip.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip;
  if (b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { family: 4, bytes: b.slice(12, 16) };
}

/**
 * A packet's source address as canonical text: an IPv4-mapped IPv6 source (::ffff:a.b.c.d)
 * becomes the IPv4 address, so that one host has one key (the ignore list, this host's
 * addresses, the control path all see it as IPv4). `bytes` holds 4 (IPv4) or 16 bytes from
 * `offset`. Every sensor formats sources through this one function.
 */
export function formatSourceIp(family: IpFamily, bytes: Uint8Array, offset = 0): string {
  if (family === 4) return formatIpv4(bytes, offset);
  return isMappedAt(bytes, offset) ? formatIpv4(bytes, offset + 12) : formatIpv6(bytes, offset);
}

function isMappedAt(b: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (b[offset + i] !== 0) return false;
  return b[offset + 10] === 0xff && b[offset + 11] === 0xff;
}

/**
 * Why a source address can never be a scanner's own and must never be blocked, whatever the
 * configuration, or undefined for an ordinary unicast address. A packet "from" such an address
 * is forged or broken; blocking it would drop traffic the host needs (`::` is the source of
 * other hosts' duplicate-address detection, multicast and broadcast sources are the group's).
 *
 * `family` is the IP version of the packet the address came from: an IPv4 address reported for
 * an IPv6 packet came from an IPv4-mapped source (formatSourceIp), which no host may send
 * (RFC 4291 §2.5.5.2), and blocking the IPv4 host for it would let anyone on IPv6 block it.
 * Undefined `family` (the control path, whose addresses are typed by an operator): the
 * address's own.
 */
export function neverBlockable(address: string, family?: IpFamily): string | undefined {
  // Canonical dotted IPv4 text (every hit's, under a flood): its first octet says it all, and
  // reading it from the text allocates nothing.
  if (family !== 6 && address.indexOf(":") < 0) {
    const first = firstOctet(address);
    if (first === 0) return "it is an unspecified (0.0.0.0/8) address";
    if (first === 127) return "it is a loopback address";
    if (first >= 224 && first < 240) return "it is a multicast address";
    if (first >= 240) {
      return address === "255.255.255.255"
        ? "it is the broadcast address"
        : "it is a reserved (240.0.0.0/4) address";
    }
    if (first >= 0) return undefined;
  }
  const ip = parseIp(address);
  if (ip === undefined) return undefined; // callers hold validated addresses
  const b = ip.bytes;
  if (ip.family === 4) {
    if (family === 6) return "it came as an IPv4-mapped IPv6 source";
    if (b[0] === 0) return "it is an unspecified (0.0.0.0/8) address";
    if (b[0] === 127) return "it is a loopback address";
    if (b[0]! >= 224 && b[0]! < 240) return "it is a multicast address";
    if (b[0]! >= 240) {
      const all = b[0] === 255 && b[1] === 255 && b[2] === 255 && b[3] === 255;
      return all ? "it is the broadcast address" : "it is a reserved (240.0.0.0/4) address";
    }
    return undefined;
  }
  if (b[0] === 0xff) return "it is a multicast address";
  let zeros = 0;
  while (zeros < 15 && b[zeros] === 0) zeros++;
  if (zeros === 15 && b[15] === 0) return "it is the unspecified address";
  if (zeros === 15 && b[15] === 1) return "it is the loopback address";
  if (isMappedAt(b, 0)) return "it is an IPv4-mapped address";
  return undefined;
}

/** The first octet of dotted IPv4 text, or -1 when the text does not start with one. */
function firstOctet(text: string): number {
  let n = 0;
  let i = 0;
  for (; i < text.length && i < 4; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) break; // "."
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return i > 0 && i < 4 && text.charCodeAt(i) === 46 && n <= 255 ? n : -1;
}
