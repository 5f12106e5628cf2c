/**
 * The fixed 32-byte record in which a capture engine hands a probe candidate to the capture
 * sensor: one codec, used by every reader and writer of it. Fixed-size and allocation-free, so
 * that a batch of thousands is one buffer.
 *
 *   0 u8  interface index (into the plan's list)   6 u16 destination port (LE)
 *   1 u8  IP family (4 / 6)                         8 f64 capture time, µs since the epoch (LE)
 *   2 u8  protocol (6 / 17)                        16 16 bytes source address (4 used for IPv4)
 *   3 u8  TCP flags (0 for UDP)
 *   4 u8  1 when IPv4 options were set
 *   5 u8  1 when this host answered the probe with RST or ICMP port unreachable: no listener,
 *         no /proc check needed
 */

import { formatSourceIp } from "../decode/address.js";

export const RECORD_BYTES = 32;

const IFACE = 0;
const FAMILY = 1;
const PROTOCOL = 2;
const TCP_FLAGS = 3;
const IP_OPTIONS = 4;
const ANSWERED = 5;
const DST_PORT = 6;
const TS_US = 8;
const SOURCE = 16;

/** What a record says, for a writer (who may reuse one object: nothing is allocated per record). */
export interface ProbeRecordFields {
  iface: number;
  family: number;
  protocol: number;
  tcpFlags: number;
  ipOptions: boolean;
  /** This host answered with RST or ICMP port unreachable: nothing listened. */
  answered: boolean;
  dstPort: number;
  tsUs: number;
}

/** Writes one record at `at`; the source address is 16 bytes of `source` from `sourceOffset`. */
export function writeRecord(
  b: Buffer,
  at: number,
  r: Readonly<ProbeRecordFields>,
  source: Uint8Array,
  sourceOffset: number,
): void {
  b[at + IFACE] = r.iface;
  b[at + FAMILY] = r.family;
  b[at + PROTOCOL] = r.protocol;
  b[at + TCP_FLAGS] = r.tcpFlags;
  b[at + IP_OPTIONS] = r.ipOptions ? 1 : 0;
  b[at + ANSWERED] = r.answered ? 1 : 0;
  b.writeUInt16LE(r.dstPort, at + DST_PORT);
  b.writeDoubleLE(r.tsUs, at + TS_US);
  for (let i = 0; i < 16; i++) b[at + SOURCE + i] = source[sourceOffset + i]!;
}

export const recordIface = (b: Buffer, at: number): number => b[at + IFACE]!;
export const recordFamily = (b: Buffer, at: number): number => b[at + FAMILY]!;
export const recordProtocol = (b: Buffer, at: number): number => b[at + PROTOCOL]!;
export const recordTcpFlags = (b: Buffer, at: number): number => b[at + TCP_FLAGS]!;
export const recordIpOptions = (b: Buffer, at: number): boolean => b[at + IP_OPTIONS] === 1;
export const recordAnswered = (b: Buffer, at: number): boolean => b[at + ANSWERED] === 1;
export const recordDstPort = (b: Buffer, at: number): number => b.readUInt16LE(at + DST_PORT);
export const recordTsUs = (b: Buffer, at: number): number => b.readDoubleLE(at + TS_US);

/** The source address as canonical text, an IPv4-mapped one as IPv4 (the family byte says how much is used). */
export function recordSource(b: Buffer, at: number): string {
  return formatSourceIp(b[at + FAMILY] === 4 ? 4 : 6, b, at + SOURCE);
}

/** A whole batch's bytes as a Buffer view (no copy). */
export function recordsView(b: Uint8Array, n: number): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, n * RECORD_BYTES);
}
