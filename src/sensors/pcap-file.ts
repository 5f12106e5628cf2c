/**
 * Capture files for `portsentry replay`: classic pcap (either byte order, µs or ns timestamps)
 * and pcapng (section header, interface description, enhanced/simple/obsolete packet blocks;
 * per-interface link type, timestamp resolution and offset). Pure: bytes come from a
 * `ByteSource`, so the file is read window by window (memory stays bounded whatever the
 * file's size) and tests hand in a buffer.
 *
 * A capture file is hostile input like a packet: nothing here throws on bad bytes. A record
 * that is malformed but whose framing is intact is skipped and counted (`badRecords`); a
 * framing that cannot be trusted any more (a record length beyond reason, a block trailer that
 * disagrees, the file ending mid-record) stops the reading with a reason and the offset.
 *
 * Not libpcap's offline mode: node_pcap would give another native dependency on the replay
 * path, and libpcap refuses a whole file for one bad record where we can count it and go on.
 */

/** Where the bytes come from: the file through a window (cli/replay.ts), or a buffer (tests). */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes at `offset`, fewer at the end. The view may be reused by the next read. */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}

/** One frame from the file. `data` is valid until the next frame is read. */
export interface CapturedFrame {
  /** LINKTYPE_* of the frame's interface. */
  readonly linkType: number;
  readonly data: Uint8Array;
  /** The frame's length on the wire (`orig_len`), ≥ the captured bytes. */
  readonly wireLength: number;
  /** Microseconds since the epoch. */
  readonly timestampUs: number;
  /** pcapng interface index within its section; 0 for classic pcap. */
  readonly interfaceIndex: number;
}

export type CaptureFormat = "pcap" | "pcapng";

/** Why reading stopped before the end of the file. */
export type StopReason =
  /** The file ends inside a record header, record or block. */
  | "truncated"
  /** A pcap record claims more than `MAX_RECORD_BYTES`: the framing is lost. */
  | "bad-record-length"
  /** A pcapng block length below 12, not a multiple of 4, or beyond the file. */
  | "bad-block-length"
  /** A pcapng block whose trailing length differs from its leading one. */
  | "bad-block-trailer"
  /** A pcapng section header with an unknown byte-order magic or major version. */
  | "bad-section-header";

export interface ReadReport {
  readonly format: CaptureFormat;
  /** Frames yielded. */
  frames: number;
  /** Malformed records or packet blocks skipped (framing intact), by reason. */
  readonly badRecords: Record<string, number>;
  /** pcapng blocks that carry no packets (name resolution, statistics, custom, unknown). */
  skippedBlocks: number;
  /** Simple packet blocks: no timestamp, they get the previous frame's. */
  untimed: number;
  /** Set when reading stopped before the end of the file. */
  stopped: { readonly reason: StopReason; readonly offset: number } | undefined;
}

export type OpenCaptureResult =
  | { readonly ok: true; readonly capture: CaptureFile }
  | { readonly ok: false; readonly reason: string };

/** A record bigger than this cannot come from a sane capture (snaplen is at most 256 KiB). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

const PCAP_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** Interfaces per pcapng section; more are counted as bad and their packets skipped. */
const MAX_INTERFACES = 4096;

const MAGIC = {
  2712847316: { littleEndian: true, nanos: false },
  3569595041: { littleEndian: false, nanos: false },
  2712812621: { littleEndian: true, nanos: true },
  1295823521: { littleEndian: false, nanos: true },
} as const satisfies Record<number, { littleEndian: boolean; nanos: boolean }>;

/** Recognises the format from the first bytes; reads nothing else yet. */
export function openCapture(src: ByteSource): OpenCaptureResult {
  const head = src.read(0, PCAP_HEADER_BYTES);
  if (head.length < 4) return { ok: false, reason: "not a capture file: shorter than a file header" };
  const magic = u32(head, 0, true);
  if (magic === PCAPNG_SHB) {
    if (head.length < 12) return { ok: false, reason: "pcapng file cut inside its first block" };
    const bom = u32(head, 8, true);
    if (bom !== PCAPNG_BOM && bom !== 0x4d3c2b1a) {
      return { ok: false, reason: "pcapng section header with an unknown byte-order magic" };
    }
    return { ok: true, capture: new CaptureFile(src, "pcapng", true, false, 0) };
  }
  const kind = (MAGIC as Record<number, { littleEndian: boolean; nanos: boolean } | undefined>)[magic];
  if (kind === undefined) {
    return {
      ok: false,
      reason: `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, "0")})`,
    };
  }
  if (head.length < PCAP_HEADER_BYTES) return { ok: false, reason: "pcap file cut inside its header" };
  const major = u16(head, 4, kind.littleEndian);
  if (major !== 2) return { ok: false, reason: `pcap version ${major} is not supported (only 2.x)` };
  // The link-type field's upper bits carry FCS information (pcap spec); the type is the low 16.
  const linkType = u32(head, 20, kind.littleEndian) & 0xffff;
  return { ok: true, capture: new CaptureFile(src, "pcap", kind.littleEndian, kind.nanos, linkType) };
}

interface Interface {
  readonly linkType: number;
  readonly snapLength: number;
  /** Timestamp units per second: 10^n or 2^n. */
  readonly unitsPerSecond: bigint;
  readonly offsetUs: bigint;
}

export class CaptureFile {
  readonly format: CaptureFormat;
  readonly #src: ByteSource;
  readonly #littleEndian: boolean;
  readonly #nanos: boolean;
  readonly #linkType: number;
  #report: ReadReport;

  constructor(
    src: ByteSource,
    format: CaptureFormat,
    littleEndian: boolean,
    nanos: boolean,
    linkType: number,
  ) {
    this.#src = src;
    this.format = format;
    this.#littleEndian = littleEndian;
    this.#nanos = nanos;
    this.#linkType = linkType;
    this.#report = newReport(format);
  }

  /** Counters of the current (or last) pass over the frames. */
  get report(): ReadReport {
    return this.#report;
  }

  /** The frames from the start; each call is a new pass with a fresh report. */
  frames(): Generator<CapturedFrame, void, undefined> {
    this.#report = newReport(this.format);
    return this.format === "pcap" ? this.#pcap(this.#report) : this.#pcapng(this.#report);
  }

  *#pcap(report: ReadReport): Generator<CapturedFrame, void, undefined> {
    const src = this.#src;
    const le = this.#littleEndian;
    const fracPerSecond = this.#nanos ? 1_000_000_000 : 1_000_000;
    let offset = PCAP_HEADER_BYTES;
    while (offset < src.size) {
      const h = src.read(offset, PCAP_RECORD_HEADER_BYTES);
      if (h.length < PCAP_RECORD_HEADER_BYTES) return stop(report, "truncated", offset);
      const seconds = u32(h, 0, le);
      const fraction = u32(h, 4, le);
      const capturedBytes = u32(h, 8, le);
      const wireLength = u32(h, 12, le);
      if (capturedBytes > MAX_RECORD_BYTES) return stop(report, "bad-record-length", offset);
      const start = offset + PCAP_RECORD_HEADER_BYTES;
      if (start + capturedBytes > src.size) return stop(report, "truncated", offset);
      offset = start + capturedBytes;
      if (fraction >= fracPerSecond) {
        bad(report, "bad-timestamp");
        continue;
      }
      if (capturedBytes > wireLength) {
        bad(report, "captured-beyond-wire-length");
        continue;
      }
      const data = src.read(start, capturedBytes);
      if (data.length < capturedBytes) return stop(report, "truncated", start);
      report.frames++;
      const timestampUs = seconds * 1_000_000 + (this.#nanos ? Math.floor(fraction / 1000) : fraction);
      yield { linkType: this.#linkType, data, wireLength, timestampUs, interfaceIndex: 0 };
    }
  }

  *#pcapng(report: ReadReport): Generator<CapturedFrame, void, undefined> {
    const src = this.#src;
    let le = true;
    let interfaces: Interface[] = [];
    let lastTimestampUs = 0;
    let offset = 0;
    while (offset < src.size) {
      const h = src.read(offset, 12);
      if (h.length < 12) return stop(report, "truncated", offset);
      const type = u32(h, 0, le);
      if (type === PCAPNG_SHB) {
        // A new section: its own byte order and interfaces.
        const bom = u32(h, 8, true);
        if (bom === PCAPNG_BOM) le = true;
        else if (bom === 0x4d3c2b1a) le = false;
        else return stop(report, "bad-section-header", offset);
        interfaces = [];
      }
      const length = u32(h, 4, le);
      if (length < 12 || length % 4 !== 0 || offset + length > src.size) {
        return stop(report, length >= 12 && length % 4 === 0 ? "truncated" : "bad-block-length", offset);
      }
      const trailer = src.read(offset + length - 4, 4);
      if (trailer.length < 4) return stop(report, "truncated", offset);
      if (u32(trailer, 0, le) !== length) return stop(report, "bad-block-trailer", offset);
      const blockStart = offset;
      offset += length;
      if (type === PCAPNG_SHB) {
        const body = src.read(blockStart, Math.min(length, 16));
        if (body.length < 16 || u16(body, 12, le) !== 1)
          return stop(report, "bad-section-header", blockStart);
        continue;
      }
      if (type !== BLOCK_IDB && type !== BLOCK_EPB && type !== BLOCK_SPB && type !== BLOCK_PB) {
        report.skippedBlocks++;
        continue;
      }
      if (length > MAX_RECORD_BYTES) {
        bad(report, "oversized-block");
        continue;
      }
      const block = src.read(blockStart, length);
      if (block.length < length) return stop(report, "truncated", blockStart);
      if (type === BLOCK_IDB) {
        const parsed = parseInterface(block, le);
        if (parsed === undefined || interfaces.length >= MAX_INTERFACES) {
          bad(report, "bad-interface-block");
          // Keep the indexes of later interfaces right: a placeholder no packet can use.
          if (interfaces.length < MAX_INTERFACES) interfaces.push(UNUSABLE_INTERFACE);
        } else {
          interfaces.push(parsed);
        }
        continue;
      }
      const frame =
        type === BLOCK_SPB
          ? simplePacket(block, le, interfaces[0])
          : packetBlock(block, le, type, interfaces);
      if (typeof frame === "string") {
        bad(report, frame);
        continue;
      }
      if (frame.timestampUs === undefined) report.untimed++;
      else lastTimestampUs = frame.timestampUs;
      report.frames++;
      yield {
        linkType: frame.linkType,
        data: frame.data,
        wireLength: frame.wireLength,
        timestampUs: frame.timestampUs ?? lastTimestampUs,
        interfaceIndex: frame.interfaceIndex,
      };
    }
  }
}

const UNUSABLE_INTERFACE: Interface = { linkType: -1, snapLength: 0, unitsPerSecond: 0n, offsetUs: 0n };

/** IDB: link type, snap length, and the options that change how time is read. */
function parseInterface(block: Uint8Array, le: boolean): Interface | undefined {
  const end = block.length - 4;
  if (end < 16) return undefined;
  const linkType = u16(block, 8, le);
  const snapLength = u32(block, 12, le);
  let unitsPerSecond = 1_000_000n;
  let offsetUs = 0n;
  for (let at = 16; at + 4 <= end; ) {
    const code = u16(block, at, le);
    const length = u16(block, at + 2, le);
    const value = at + 4;
    if (code === OPT_END) break;
    if (value + length > end) return undefined;
    if (code === OPT_IF_TSRESOL && length >= 1) {
      const r = block[value]!;
      // High bit set: a power of two; else a power of ten. Beyond these, no clock ticks that fast.
      const exponent = r & 0x7f;
      if ((r & 0x80) !== 0 ? exponent > 63 : exponent > 18) return undefined;
      unitsPerSecond = (r & 0x80) !== 0 ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    } else if (code === OPT_IF_TSOFFSET && length >= 8) {
      const high = BigInt(u32(block, value + (le ? 4 : 0), le));
      const low = BigInt(u32(block, value + (le ? 0 : 4), le));
      offsetUs = BigInt.asIntN(64, (high << 32n) | low) * 1_000_000n;
    }
    at = value + ((length + 3) & ~3);
  }
  return { linkType, snapLength, unitsPerSecond, offsetUs };
}

interface BlockFrame {
  readonly linkType: number;
  readonly data: Uint8Array;
  readonly wireLength: number;
  readonly timestampUs: number | undefined;
  readonly interfaceIndex: number;
}

/** EPB (type 6) or the obsolete PB (type 2); a string is the reason it is bad. */
function packetBlock(
  block: Uint8Array,
  le: boolean,
  type: number,
  interfaces: readonly Interface[],
): BlockFrame | string {
  const end = block.length - 4;
  if (end < 28) return "short-packet-block";
  const index = type === BLOCK_EPB ? u32(block, 8, le) : u16(block, 8, le);
  const iface = interfaces[index];
  if (iface === undefined || iface === UNUSABLE_INTERFACE) return "unknown-interface";
  const captured = u32(block, 20, le);
  const wireLength = u32(block, 24, le);
  if (28 + captured > end) return "captured-beyond-block";
  if (captured > wireLength) return "captured-beyond-wire-length";
  const ticks = (BigInt(u32(block, 12, le)) << 32n) | BigInt(u32(block, 16, le));
  const timestampUs = Number((ticks * 1_000_000n) / iface.unitsPerSecond + iface.offsetUs);
  return {
    linkType: iface.linkType,
    data: block.subarray(28, 28 + captured),
    wireLength,
    timestampUs,
    interfaceIndex: index,
  };
}

/** SPB (type 3): interface 0, no timestamp; captured = min(wire, snaplen, what the block holds). */
function simplePacket(block: Uint8Array, le: boolean, iface: Interface | undefined): BlockFrame | string {
  const end = block.length - 4;
  if (end < 12) return "short-packet-block";
  if (iface === undefined || iface === UNUSABLE_INTERFACE) return "unknown-interface";
  const wireLength = u32(block, 8, le);
  let captured = Math.min(wireLength, end - 12);
  if (iface.snapLength > 0) captured = Math.min(captured, iface.snapLength);
  return {
    linkType: iface.linkType,
    data: block.subarray(12, 12 + captured),
    wireLength,
    timestampUs: undefined,
    interfaceIndex: 0,
  };
}

function newReport(format: CaptureFormat): ReadReport {
  return { format, frames: 0, badRecords: {}, skippedBlocks: 0, untimed: 0, stopped: undefined };
}

function stop(report: ReadReport, reason: StopReason, offset: number): void {
  report.stopped = { reason, offset };
}

function bad(report: ReadReport, reason: string): void {
  report.badRecords[reason] = (report.badRecords[reason] ?? 0) + 1;
}

function u16(b: Uint8Array, at: number, le: boolean): number {
  return le ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number, le: boolean): number {
  return le
    ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
