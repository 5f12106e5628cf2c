/**
 * The ignore file (spec §2): addresses and networks never acted on. Pure: no node: imports,
 * so policy/ can use IgnoreList; loading from disk is in load.ts.
 *
 * One entry a line: `IP`, `IP/bits` or `IP/dotted.netmask` (contiguous), IPv4 or IPv6; `#`
 * comments, also after an entry; surrounding whitespace and CRLF tolerated. Both the entry
 * and the address looked up are masked before they are compared, so `192.168.1.5/24` matches
 * 192.168.1.77 (2.x compared the unmasked entry and never matched it).
 *
 * Storage: per family, one hash set of masked prefixes per prefix length present (dedup, size,
 * `match` probes the lengths present, longest first). `matches`, the hot path, uses a sorted
 * array of merged address ranges built lazily after the last `add`: a binary search, about
 * 17 steps for 100 000 networks, whatever mix of lengths. Figures: bench/ignore-match.bench.ts.
 */

import { formatIp, type IpBytes, type IpFamily, parseIp, unmapIpv4 } from "../decode/address.js";
import { badCharacters, ErrorList, quoteForMessage, splitLines, tooLongMessage } from "./lines.js";
import { RangeIndex } from "./ranges.js";
import type { ParseResult } from "./types.js";

/** A network: address bytes with every bit past `bits` cleared. */
export interface IpPrefix {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** An operator's file, not an attacker's table, but still bounded: a runaway file is an error. */
export const MAX_IGNORE_ENTRIES = 1_000_000;

export type PrefixResult =
  | { readonly ok: true; readonly prefix: IpPrefix }
  | { readonly ok: false; readonly message: string };

/** `IP`, `IP/bits` or `IPv4/dotted.netmask` → a masked prefix. A bare address is a host (/32, /128). */
export function parsePrefix(text: string): PrefixResult {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (ip === undefined) return { ok: false, message: notAnAddress(addrText) };
  const maxBits = ip.family === 4 ? 32 : 128;
  let bits = maxBits;
  if (slash >= 0) {
    const maskText = text.slice(slash + 1);
    if (/^[0-9]{1,3}$/.test(maskText)) {
      bits = Number(maskText);
      if (bits > maxBits) {
        return {
          ok: false,
          message: `/${maskText} is not a prefix length for IPv${ip.family} (0-${maxBits})`,
        };
      }
    } else if (ip.family === 4 && maskText.includes(".")) {
      const mask = parseIp(maskText);
      const maskBits = mask?.family === 4 ? contiguousBits(mask.bytes) : undefined;
      if (maskBits === undefined) {
        return {
          ok: false,
          message: `${quoteForMessage(maskText)} is not a netmask (contiguous ones, like 255.255.255.0)`,
        };
      }
      bits = maskBits;
    } else {
      const what = ip.family === 4 ? "a prefix length (0-32) or a netmask" : "a prefix length (0-128)";
      return { ok: false, message: `${quoteForMessage(maskText)} after "/" is not ${what}` };
    }
  }
  return { ok: true, prefix: normalizePrefix(ip.family, ip.bytes, bits) };
}

export function formatPrefix(p: IpPrefix): string {
  return `${formatIp(p)}/${p.bits}`;
}

function notAnAddress(text: string): string {
  const shown = quoteForMessage(text);
  if (text === "") return "missing address before '/'";
  if (text.includes("%")) return `${shown} is not an address: zone indexes (%eth0) are not allowed`;
  if (text.startsWith("[")) return `${shown} is not an address: write IPv6 without brackets`;
  if (/^[0-9.]+$/.test(text) && /(^|\.)0[0-9]/.test(text)) {
    return `${shown} is not an address: leading zeros are refused (octal or decimal?)`;
  }
  if (/[g-zG-Z]/.test(text))
    return `${shown} is not an address: host names are not resolved; write the address`;
  return `${shown} is not an IPv4 or IPv6 address`;
}

/** Number of leading one bits when the mask is contiguous (ones then zeros), else undefined. */
function contiguousBits(mask: Uint8Array): number | undefined {
  let bits = 0;
  let seenZero = false;
  for (const byte of mask) {
    for (let b = 7; b >= 0; b--) {
      const one = ((byte >> b) & 1) === 1;
      if (one && seenZero) return undefined;
      if (one) bits++;
      else seenZero = true;
    }
  }
  return bits;
}

/** Masks the host bits; an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/96+) becomes IPv4. */
function normalizePrefix(family: IpFamily, source: Uint8Array, bits: number): IpPrefix {
  let fam = family;
  let b = bits;
  let bytes = source.slice();
  if (fam === 6 && b >= 96) {
    const v4 = unmapIpv4({ family: 6, bytes });
    if (v4.family === 4) {
      fam = 4;
      b -= 96;
      bytes = v4.bytes.slice();
    }
  }
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, b - 8 * i));
    bytes[i] = bytes[i]! & ((0xff00 >> keep) & 0xff);
  }
  return { family: fam, bytes, bits: b };
}

/** Network-order bytes → one 32-bit unsigned integer. */
function v4Number(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/** Network-order bytes → big-endian 32-bit words at `out[offset…]`. */
function wordsInto(bytes: Uint8Array, out: Uint32Array, offset: number): void {
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    out[offset + i / 4] =
      ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
  }
}

/** IPv6 bytes → 8 UTF-16 code units (one per 16-bit group): a cheap, sliceable hash key. */
function v6Words(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
  return s;
}

/** Signed 32-bit so that V8 keeps keys as small integers (unsigned ones above 2^31 are boxed). */
function v4Key(addr: number, bits: number): number {
  return bits === 0 ? 0 : (addr >>> (32 - bits)) | 0;
}

function v6Key(words: string, bits: number): string {
  const full = bits >>> 4;
  const rest = bits & 15;
  if (rest === 0) return words.slice(0, full);
  const partial = words.charCodeAt(full) & (0xffff0000 >>> rest) & 0xffff;
  return words.slice(0, full) + String.fromCharCode(partial);
}

/** A set of networks with a fast "is this address inside one of them?". */
export class IgnoreList {
  /** Index = prefix length; keys are the masked prefixes of that length. */
  readonly #v4: (Set<number> | undefined)[] = new Array(33).fill(undefined);
  readonly #v6: (Set<string> | undefined)[] = new Array(129).fill(undefined);
  /** Prefix lengths present, longest first: the order of probes. */
  #v4Lengths: number[] = [];
  #v6Lengths: number[] = [];
  #size = 0;
  /** The `matches` index per family; undefined until built (see prepare). */
  #index4: FamilyIndex | undefined;
  #index6: FamilyIndex | undefined;
  /** Query buffers, so that a lookup allocates nothing. */
  readonly #q4 = new Uint32Array(1);
  readonly #q6 = new Uint32Array(4);

  /** Number of distinct networks. */
  get size(): number {
    return this.#size;
  }

  /** Adds a network; returns false when it was already there. */
  addPrefix(p: IpPrefix): boolean {
    const n = normalizePrefix(p.family, p.bytes, p.bits);
    let added: boolean;
    if (n.family === 4) {
      let set = this.#v4[n.bits];
      if (set === undefined) {
        set = new Set();
        this.#v4[n.bits] = set;
        this.#v4Lengths = lengthsOf(this.#v4);
      }
      const key = v4Key(v4Number(n.bytes), n.bits);
      added = !set.has(key);
      set.add(key);
    } else {
      let set = this.#v6[n.bits];
      if (set === undefined) {
        set = new Set();
        this.#v6[n.bits] = set;
        this.#v6Lengths = lengthsOf(this.#v6);
      }
      const key = v6Key(v6Words(n.bytes), n.bits);
      added = !set.has(key);
      set.add(key);
    }
    if (added) {
      this.#size++;
      // Late additions (the host's own addresses) go to a short list instead of a rebuild, so
      // that a lookup on the packet path never pays for sorting 100 000 networks.
      const index = n.family === 4 ? this.#index4 : this.#index6;
      if (index !== undefined && index.pending.length < MAX_PENDING) index.pending.push(n);
      else if (n.family === 4) this.#index4 = undefined;
      else this.#index6 = undefined;
    }
    return added;
  }

  /** Adds one address (a host) or, with `bits`, the network around it. */
  add(ip: IpBytes, bits: number = ip.family === 4 ? 32 : 128): boolean {
    const max = ip.family === 4 ? 32 : 128;
    return this.addPrefix({ family: ip.family, bytes: ip.bytes, bits: Math.max(0, Math.min(max, bits)) });
  }

  /** Loopback, which is always ignored whatever the file says: 127.0.0.0/8 and ::1. */
  addLoopback(): void {
    this.addPrefix({ family: 4, bytes: Uint8Array.of(127, 0, 0, 0), bits: 8 });
    const one = new Uint8Array(16);
    one[15] = 1;
    this.addPrefix({ family: 6, bytes: one, bits: 128 });
  }

  matches(ip: IpBytes | string): boolean {
    const addr = toAddress(ip);
    if (addr === undefined) return false;
    let index: FamilyIndex;
    if (addr.family === 4) {
      index = this.#index4 ??= this.#build(4);
      this.#q4[0] = v4Number(addr.bytes);
      if (index.ranges.contains(this.#q4)) return true;
    } else {
      index = this.#index6 ??= this.#build(6);
      wordsInto(addr.bytes, this.#q6, 0);
      if (index.ranges.contains(this.#q6)) return true;
    }
    for (const p of index.pending) if (prefixContains(p, addr.bytes)) return true;
    return false;
  }

  /**
   * Builds the lookup index now (it is otherwise built by the first lookup). parseIgnoreList
   * calls it; call it again after many `add`s, before the list goes on the packet path.
   */
  prepare(): void {
    if (this.#index4 === undefined || this.#index4.pending.length > 0) this.#index4 = this.#build(4);
    if (this.#index6 === undefined || this.#index6.pending.length > 0) this.#index6 = this.#build(6);
  }

  #build(family: IpFamily): FamilyIndex {
    return { ranges: this.#rangesOf(family), pending: [] };
  }

  #rangesOf(family: IpFamily): RangeIndex {
    const nets = this.prefixes().filter((p) => p.family === family);
    const width = family === 4 ? 1 : 4;
    const starts = new Uint32Array(nets.length * width);
    const ends = new Uint32Array(nets.length * width);
    const last = new Uint8Array(width * 4);
    nets.forEach((p, i) => {
      wordsInto(p.bytes, starts, i * width);
      for (let b = 0; b < last.length; b++) {
        const hostBits = Math.max(0, Math.min(8, 8 * (b + 1) - p.bits));
        last[b] = p.bytes[b]! | ((1 << hostBits) - 1);
      }
      wordsInto(last, ends, i * width);
    });
    return new RangeIndex(width, starts, ends);
  }

  /** The most specific network containing `ip`, or undefined (also for text that is not an address). */
  match(ip: IpBytes | string): IpPrefix | undefined {
    const addr = toAddress(ip);
    if (addr === undefined) return undefined;
    const bits = this.#matchBits(addr);
    return bits < 0 ? undefined : normalizePrefix(addr.family, addr.bytes, bits);
  }

  /** Length of the longest matching prefix, or -1. No allocation for IPv4. */
  #matchBits(addr: IpBytes): number {
    if (addr.family === 4) {
      const n = v4Number(addr.bytes);
      for (const bits of this.#v4Lengths) if (this.#v4[bits]!.has(v4Key(n, bits))) return bits;
      return -1;
    }
    const words = v6Words(addr.bytes);
    for (const bits of this.#v6Lengths) if (this.#v6[bits]!.has(v6Key(words, bits))) return bits;
    return -1;
  }

  /** Every network, IPv4 first, longest prefixes first (for `status` output and tests). */
  prefixes(): IpPrefix[] {
    const out: IpPrefix[] = [];
    for (const bits of this.#v4Lengths) {
      for (const key of this.#v4[bits]!) {
        const n = bits === 0 ? 0 : ((key >>> 0) << (32 - bits)) >>> 0;
        out.push({
          family: 4,
          bytes: Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255),
          bits,
        });
      }
    }
    for (const bits of this.#v6Lengths) {
      for (const key of this.#v6[bits]!) {
        const bytes = new Uint8Array(16);
        for (let i = 0; i < key.length; i++) {
          bytes[2 * i] = key.charCodeAt(i) >> 8;
          bytes[2 * i + 1] = key.charCodeAt(i) & 255;
        }
        out.push({ family: 6, bytes, bits });
      }
    }
    return out;
  }
}

/** Text or bytes → a well-formed address, IPv4-mapped IPv6 as IPv4; undefined when malformed. */
function toAddress(ip: IpBytes | string): IpBytes | undefined {
  const parsed = typeof ip === "string" ? parseIp(ip) : ip;
  if (parsed === undefined) return undefined;
  if (parsed.bytes.length !== (parsed.family === 4 ? 4 : 16)) return undefined;
  return unmapIpv4(parsed);
}

interface FamilyIndex {
  readonly ranges: RangeIndex;
  /** Networks added after `ranges` was built, checked one by one. */
  readonly pending: IpPrefix[];
}

/** Beyond this many late additions, the index is rebuilt instead. */
const MAX_PENDING = 64;

/** Whether masked prefix `p` contains the address `bytes` of the same family. */
function prefixContains(p: IpPrefix, bytes: Uint8Array): boolean {
  const full = p.bits >>> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== bytes[i]) return false;
  const rest = p.bits & 7;
  return rest === 0 || p.bytes[full] === (bytes[full]! & (0xff00 >> rest) & 0xff);
}

function lengthsOf(table: readonly (Set<unknown> | undefined)[]): number[] {
  const lengths: number[] = [];
  for (let bits = table.length - 1; bits >= 0; bits--) if (table[bits] !== undefined) lengths.push(bits);
  return lengths;
}

/** Parses an ignore file's text. Pure; every bad line is reported with its number. */
export function parseIgnoreList(text: string, file: string): ParseResult<IgnoreList> {
  const errors = new ErrorList(file);
  const list = new IgnoreList();
  let entries = 0;
  for (const line of splitLines(text)) {
    if (line.tooLong) {
      errors.add(line.number, undefined, tooLongMessage(line));
      continue;
    }
    const bad = badCharacters(line.text, "nul");
    if (bad !== undefined) {
      errors.add(line.number, undefined, bad);
      continue;
    }
    const hash = line.text.indexOf("#");
    const entry = (hash < 0 ? line.text : line.text.slice(0, hash)).trim();
    if (entry === "") continue;
    if (/\s/.test(entry)) {
      errors.add(line.number, undefined, `one entry a line: ${quoteForMessage(entry)} has spaces in it`);
      continue;
    }
    const r = parsePrefix(entry);
    if (!r.ok) {
      errors.add(line.number, undefined, r.message);
      continue;
    }
    if (++entries > MAX_IGNORE_ENTRIES) {
      errors.add(
        line.number,
        undefined,
        `too many entries (at most ${MAX_IGNORE_ENTRIES}); use wider networks`,
      );
      break;
    }
    list.addPrefix(r.prefix);
  }
  if (errors.count > 0) return { ok: false, errors: errors.list() };
  list.prepare();
  return { ok: true, value: list };
}
