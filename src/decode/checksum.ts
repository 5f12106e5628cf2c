/**
 * The TCP/UDP checksum of a decoded packet, one rule for both families (issue #14): the kernel
 * discards a segment or datagram whose checksum does not add up and never answers it (nmap
 * `--badsum` probes for a firewall that does not check), so such a packet is not a hit.
 *
 * Pure. Run for probe candidates only (a few dozen bytes each), never for every frame.
 *
 * "Unknown" counts as good: a capture cut short by its snap length, a first fragment (the sum
 * covers the whole datagram), a field of 0 (an IPv4 UDP datagram without a checksum; taken as
 * "not filled in" for TCP and IPv6 too, one rule: such a packet is counted as before, and a
 * capture written by hand without checksums replays as it always did). So is the form a
 * checksum has before the NIC completes it (CHECKSUM_PARTIAL: the field holds the pseudo-header
 * sum only): a packet from a veth peer or a local socket arrives that way, and a forged one in
 * that form is counted as before, never let through.
 */

import type { PacketFacts } from "./packet.js";

/** False only when the checksum is known and wrong. `captured`: bytes of `frame` that are the frame. */
export function checksumOk(frame: Uint8Array, f: PacketFacts, captured: number = frame.length): boolean {
  const start = f.l4Start;
  const end = f.l4End;
  if (f.firstFragment || end > Math.min(captured, frame.length) || end - start < 8) return true;
  const field = f.protocol === 6 ? start + 16 : start + 6;
  if (end < field + 2) return true;
  const stored = (frame[field]! << 8) | frame[field + 1]!;
  if (stored === 0) return true;
  const length = end - start;
  let pseudo = f.protocol + length;
  const width = f.family === 4 ? 4 : 16;
  for (let i = 0; i < width; i += 2) {
    pseudo += ((f.src[i]! << 8) | f.src[i + 1]!) + ((f.dst[i]! << 8) | f.dst[i + 1]!);
  }
  let sum = pseudo;
  for (let i = start; i + 1 < end; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
  if ((length & 1) === 1) sum += frame[end - 1]! << 8;
  if (fold(sum) === 0xffff) return true;
  // Not yet completed by the sender's offload: the field holds the pseudo-header sum.
  const partial = fold(pseudo);
  return stored === partial || stored === (~partial & 0xffff);
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
