/**
 * Counts a target's answers to a scanner's probes in a classic pcap file (what `tcpdump -w`
 * writes; Ethernet frames), to tell how many answers left the target after the first probe
 * to a trap port. An answer is matched to its probe by protocol and port (each port is probed
 * once with `--max-retries 0`): TCP from the probed port, UDP from it, ICMP/ICMPv6 "destination
 * unreachable" quoting it. Neighbour discovery and other informational ICMPv6 are not answers.
 */

import { parseIp } from "../../src/decode/address.js";

export interface ProbeAnswers {
  readonly frames: number;
  /** Probes from the scanner to the target (TCP without ACK/RST, UDP). */
  readonly probes: number;
  /** Capture time (µs) of the first probe to a trap port; undefined when there was none. */
  readonly firstTrapProbeUs: number | undefined;
  readonly answers: number;
  /** Answers to probes that arrived after the first trap probe (or unmatched ones sent after it). */
  readonly answersAfterTrap: number;
  /** Arrival of the last answered probe after the first trap probe, relative to it (ms); 0 if none. */
  readonly leakWindowMs: number;
}

interface Packet {
  readonly tsUs: number;
  readonly src: string;
  readonly dst: string;
  /** 6, 17, or for ICMP errors the quoted packet's protocol. */
  readonly proto: number;
  readonly srcPort: number;
  /** For an ICMP error: the quoted packet's destination port (the probed port). */
  readonly dstPort: number;
  readonly tcpFlags: number;
  readonly icmpError: boolean;
}

const hex = (b: Uint8Array, at: number, n: number) => {
  let s = "";
  for (let i = 0; i < n; i++) s += (b[at + i] ?? 0).toString(16).padStart(2, "0");
  return s;
};

function addrText(b: Uint8Array, at: number, v6: boolean): string {
  if (!v6) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  return hex(b, at, 16);
}

function canonical(text: string): string {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(`not an address: ${text}`);
  return ip.family === 4 ? text : hex(ip.bytes, 0, 16);
}

const u16 = (b: Uint8Array, i: number) => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);

/** IP packet at `ip` → packet facts (undefined for what is neither probe nor answer). */
function parseIpPacket(b: Uint8Array, ip: number, tsUs: number): Packet | undefined {
  const version = (b[ip] ?? 0) >> 4;
  let proto: number;
  let l4: number;
  let src: string;
  let dst: string;
  if (version === 4) {
    proto = b[ip + 9] ?? 0;
    l4 = ip + ((b[ip] ?? 0) & 15) * 4;
    src = addrText(b, ip + 12, false);
    dst = addrText(b, ip + 16, false);
  } else if (version === 6) {
    proto = b[ip + 6] ?? 0;
    l4 = ip + 40;
    src = addrText(b, ip + 8, true);
    dst = addrText(b, ip + 24, true);
  } else return undefined;
  if (proto === 6 || proto === 17) {
    return {
      tsUs,
      src,
      dst,
      proto,
      srcPort: u16(b, l4),
      dstPort: u16(b, l4 + 2),
      tcpFlags: proto === 6 ? (b[l4 + 13] ?? 0) : 0,
      icmpError: false,
    };
  }
  const icmpError = (proto === 1 && (b[l4] === 3 || b[l4] === 11)) || (proto === 58 && (b[l4] ?? 255) < 128);
  if (!icmpError) return undefined;
  // The quoted packet: its destination port is the port the error answers for.
  const inner = parseIpPacket(b, l4 + 8, tsUs);
  return inner && { ...inner, src, dst, icmpError: true };
}

export function countProbeAnswers(
  pcap: Uint8Array,
  target: string,
  scanner: string,
  isTrap: (proto: 6 | 17, port: number) => boolean,
): ProbeAnswers {
  const view = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const magic = view.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  if (!le && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) throw new Error("not a classic pcap file");
  const linkType = view.getUint32(20, le);
  if (linkType !== 1) throw new Error(`link type ${linkType}: only Ethernet is handled`);
  const t = canonical(target);
  const s = canonical(scanner);
  const packets: Packet[] = [];
  let frames = 0;
  for (let at = 24; at + 16 <= pcap.length; ) {
    const tsUs = view.getUint32(at, le) * 1e6 + view.getUint32(at + 4, le) / (nanos ? 1000 : 1);
    const caplen = view.getUint32(at + 8, le);
    const frame = pcap.subarray(at + 16, at + 16 + caplen);
    at += 16 + caplen;
    frames++;
    let etherType = u16(frame, 12);
    let ip = 14;
    if (etherType === 0x8100) {
      etherType = u16(frame, 16);
      ip = 18;
    }
    if (etherType !== 0x0800 && etherType !== 0x86dd) continue;
    const p = parseIpPacket(frame, ip, tsUs);
    if (p) packets.push(p);
  }
  const probeAt = new Map<string, number>();
  let probes = 0;
  let firstTrapProbeUs: number | undefined;
  for (const p of packets) {
    if (p.src !== s || p.dst !== t || p.icmpError) continue;
    if (p.proto === 6 && (p.tcpFlags & 0x14) !== 0) continue;
    probes++;
    const key = `${p.proto}/${p.dstPort}`;
    if (!probeAt.has(key)) probeAt.set(key, p.tsUs);
    if (firstTrapProbeUs === undefined && isTrap(p.proto as 6 | 17, p.dstPort)) firstTrapProbeUs = p.tsUs;
  }
  let answers = 0;
  let answersAfterTrap = 0;
  let leakWindowMs = 0;
  for (const p of packets) {
    if (p.src !== t || p.dst !== s) continue;
    // A TCP or UDP answer comes from the probed port; an ICMP error quotes the probe.
    const probeUs = probeAt.get(`${p.proto}/${p.icmpError ? p.dstPort : p.srcPort}`);
    answers++;
    if (firstTrapProbeUs === undefined) continue;
    const after = probeUs !== undefined ? probeUs > firstTrapProbeUs : p.tsUs > firstTrapProbeUs;
    if (after) {
      answersAfterTrap++;
      if (probeUs !== undefined) leakWindowMs = Math.max(leakWindowMs, (probeUs - firstTrapProbeUs) / 1000);
    }
  }
  return { frames, probes, firstTrapProbeUs, answers, answersAfterTrap, leakWindowMs };
}
