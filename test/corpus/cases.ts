/**
 * The detection corpus (issue #14): for each case a capture (test/corpus/<name>.pcap, written
 * from these definitions by write-corpus.ts) and the expected verdict of each packet that is
 * not this host's own: a hit (port, classification) or a drop (the reason, as replay counts it).
 * Replayed in the unit suite (test/unit/corpus.test.ts) through the replay engine, which runs
 * the live capture's rules, so the corpus guards both.
 *
 * Addresses are documentation ones: this host 192.0.2.1 / 2001:db8::1.
 */

import type { Config } from "../../src/config/types.js";
import type { StealthMode } from "../../src/port-set.js";
import {
  ACK,
  FIN,
  fragmentPackets,
  ipPacket,
  type PacketSpec,
  PSH,
  portUnreachablePacket,
  RST,
  rawIpPacket,
  SYN,
  URG,
} from "../helpers/pcap-builder.js";

export const HOST = "192.0.2.1";
export const HOST6 = "2001:db8::1";
const SCANNER = "198.51.100.7";
const SCANNER6 = "2001:db8:5::7";
const SERVER = "198.51.100.53";
const SERVER6 = "2001:db8:53::53";

export type Verdict =
  | { readonly hit: string; readonly port: number }
  | { readonly drop: string }
  /** This host's own packet, or a later fragment: no verdict of its own. */
  | undefined;

export interface CorpusPacket {
  /** Milliseconds into the capture. */
  readonly ms: number;
  /** The IP packet (framed in Ethernet when written). */
  readonly ip: Uint8Array;
  readonly verdict: Verdict;
}

export interface CorpusCase {
  readonly name: string;
  /** The line of issue #14 it covers. */
  readonly covers: string;
  readonly modes: readonly StealthMode[];
  readonly config: Partial<Config>;
  readonly packets: readonly CorpusPacket[];
  /** Hits that repeat their source's previous port (counted apart), when the case says. */
  readonly samePortRepeats?: number;
  /** Policy's decision on each hit, in order (replay's `decision`), when the case says. */
  readonly decisions?: readonly string[];
}

const hit = (name: string, port: number): Verdict => ({ hit: name, port });
const drop = (reason: string): Verdict => ({ drop: reason });

/** A probe and, unless "none", this host's answer 20 µs later. */
function probe(
  ms: number,
  p: PacketSpec,
  verdict: Verdict,
  answer: "rst" | "syn-ack" | "unreachable" | "none" = p.proto === "tcp" ? "rst" : "unreachable",
): CorpusPacket[] {
  const out: CorpusPacket[] = [{ ms, ip: ipPacket(p), verdict }];
  if (answer === "unreachable") out.push({ ms: ms + 0.02, ip: portUnreachablePacket(p), verdict: undefined });
  else if (answer !== "none") {
    const flags = answer === "rst" ? RST | ACK : SYN | ACK;
    const back = { src: p.dst, dst: p.src, proto: p.proto, sport: p.dport, dport: p.sport, flags };
    out.push({ ms: ms + 0.02, ip: ipPacket(back), verdict: undefined });
  }
  return out;
}

/** This host's own packet. */
function ours(ms: number, p: PacketSpec): CorpusPacket {
  return { ms, ip: ipPacket(p), verdict: undefined };
}

function tcp(
  src: string,
  sport: number,
  dport: number,
  flags: number,
  extra: Partial<PacketSpec> = {},
): PacketSpec {
  return { src, dst: src.includes(":") ? HOST6 : HOST, proto: "tcp", sport, dport, flags, ...extra };
}
function udp(src: string, sport: number, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec {
  return { src, dst: src.includes(":") ? HOST6 : HOST, proto: "udp", sport, dport, ...extra };
}
/** This host's packet of the flow whose packets from the peer look like `p`. */
function reverse(p: PacketSpec): PacketSpec {
  return { ...p, src: p.dst, dst: p.src, sport: p.dport, dport: p.sport };
}

/** `p` in fragments of `chunk` bytes; the first carries the verdict, the answer follows. */
function fragmented(ms: number, p: PacketSpec, chunk: number, verdict: Verdict, id: number): CorpusPacket[] {
  const parts = fragmentPackets(p, chunk, id).map((ip, i) => ({ ms: ms + i * 0.01, ip, verdict: undefined }));
  // The verdict belongs to the fragment that completes the header: the last of the head's.
  const need = p.proto === "tcp" ? 14 : 8;
  const completing = Math.min(parts.length - 1, Math.ceil(need / chunk) - 1);
  const out: CorpusPacket[] = parts.map((x, i) => (i === completing ? { ...x, verdict } : x));
  const back = { src: p.dst, dst: p.src, proto: p.proto, sport: p.dport, dport: p.sport, flags: RST | ACK };
  const answer = p.proto === "tcp" ? ipPacket(back) : portUnreachablePacket(p);
  out.push({ ms: ms + parts.length * 0.01 + 0.02, ip: answer, verdict: undefined });
  return out;
}

const SYN_NAME = "TCP SYN/Normal scan";
const S = 1000;

export const CORPUS: readonly CorpusCase[] = [
  {
    name: "scan-types",
    covers: "What holds: -sS -sF -sN -sX --scanflags URGPSH, IPv4 and IPv6",
    modes: ["stcp", "sudp"],
    config: {},
    packets: [
      ...probe(0, tcp(SCANNER, 40001, 143, SYN), hit(SYN_NAME, 143)),
      ...probe(10, tcp(SCANNER, 40002, 1, FIN), hit("TCP FIN scan", 1)),
      ...probe(20, tcp(SCANNER, 40003, 11, 0), hit("TCP NULL scan", 11)),
      ...probe(30, tcp(SCANNER6, 40004, 143, FIN | PSH | URG), hit("TCP XMAS scan", 143)),
      ...probe(
        40,
        tcp(SCANNER6, 40005, 1, URG | PSH),
        hit("Unknown Type: TCP Packet Flags: SYN: 0 FIN: 0 ACK: 0 PSH: 1 URG: 1 RST: 0", 1),
      ),
      ...probe(50, udp(SCANNER, 40006, 7), hit("UDP scan", 7)),
    ],
  },
  {
    name: "ack-scans-off",
    covers: "ACK, Window and Maimon scans: DETECT_ACK_SCANS=0 keeps today's rule (not probes)",
    modes: ["stcp"],
    config: { detectAckScans: false },
    packets: [
      ...probe(0, tcp(SCANNER, 41001, 143, ACK), drop("not-probe")),
      ...probe(10, tcp(SCANNER, 41002, 1, FIN | ACK), drop("not-probe")),
    ],
  },
  {
    name: "ack-scans-on",
    covers: "-sA -sW -sM with DETECT_ACK_SCANS=1; an established connection's ACKs never",
    modes: ["atcp"],
    config: { detectAckScans: true },
    packets: [
      ...probe(0, tcp(SCANNER, 42001, 143, ACK), hit("TCP ACK scan", 143)),
      // nmap -sW sends the very packet of -sA (it reads the RST's window): the same name.
      ...probe(10, tcp(SCANNER, 42002, 11, ACK), hit("TCP ACK scan", 11)),
      ...probe(20, tcp(SCANNER, 42003, 1, FIN | ACK), hit("TCP Maimon scan", 1)),
      ...probe(30, tcp(SCANNER6, 42004, 143, ACK), hit("TCP ACK scan", 143)),
      // A live connection's segment: the kernel takes it, no RST.
      ...probe(40, tcp(SERVER, 42005, 143, ACK | PSH), drop("ack-unanswered"), "none"),
    ],
  },
  {
    name: "own-connection",
    covers: "Replies: a TCP segment of a connection this host opened (from a low port), also late",
    modes: ["atcp"],
    config: { detectAckScans: true },
    packets: [
      ours(0, reverse(tcp(SERVER, 22, 700, SYN))),
      ...probe(1, tcp(SERVER, 22, 700, SYN | ACK), drop("own-flow"), "none"),
      // Late, after our socket is gone: the kernel answers RST, still our flow.
      ...probe(30 * S, tcp(SERVER, 22, 700, FIN | ACK), drop("own-flow")),
    ],
  },
  {
    name: "ntp-replies",
    covers: "Replies: NTP (source port 123) in time and late, IPv4 and IPv6",
    modes: ["audp"],
    config: {},
    packets: [
      ours(0, reverse(udp(SERVER, 123, 123))),
      ...probe(5, udp(SERVER, 123, 123), drop("own-flow"), "none"),
      ...probe(10 * S, udp(SERVER, 123, 123), drop("own-flow")),
      ours(11 * S, reverse(udp(SERVER6, 123, 123))),
      ...probe(11 * S + 5, udp(SERVER6, 123, 123), drop("own-flow"), "none"),
      ...probe(20 * S, udp(SERVER6, 123, 123), drop("own-flow")),
    ],
  },
  {
    name: "dns-replies",
    covers: "Replies: a late DNS reply from port 53 to our port 53 and to an ephemeral port below 1024",
    modes: ["audp"],
    config: {},
    packets: [
      ours(0, reverse(udp(SERVER, 53, 53))),
      ours(1, reverse(udp(SERVER, 53, 900))),
      ...probe(5 * S, udp(SERVER, 53, 53), drop("own-flow")),
      ...probe(6 * S, udp(SERVER, 53, 900), drop("own-flow")),
    ],
  },
  {
    name: "reply-after-memory",
    covers: "Replies: the flow table's stated memory (UDP 180 s); past it a datagram is a probe",
    modes: ["audp"],
    config: {},
    packets: [
      ours(0, reverse(udp(SERVER, 123, 123))),
      ...probe(200 * S, udp(SERVER, 123, 123), hit("UDP scan", 123)),
    ],
  },
  {
    name: "restart-grace",
    covers: "A service restart: a client during a 2 s restart, a SYN retransmission to a stopped service",
    modes: ["atcp"],
    config: { listenGraceSec: 600 },
    packets: [
      ...probe(0, tcp(SERVER, 43001, 22, SYN), drop("answered-by-listener"), "syn-ack"),
      ...probe(1 * S, tcp(SERVER, 43002, 22, SYN), drop("listen-grace")),
      ...probe(2 * S, tcp(SERVER, 43002, 22, SYN), drop("listen-grace")),
      ...probe(3 * S, tcp(SERVER6, 43003, 80, SYN), drop("answered-by-listener"), "syn-ack"),
      ...probe(4 * S, tcp(SERVER6, 43004, 80, SYN), drop("listen-grace")),
      // Past the grace the port is a trap again.
      ...probe(700 * S, tcp(SCANNER, 43005, 22, SYN), hit(SYN_NAME, 22)),
    ],
  },
  {
    name: "restart-grace-off",
    covers: "LISTEN_GRACE=0: a port is a trap as soon as nothing listens",
    modes: ["atcp"],
    config: { listenGraceSec: 0 },
    packets: [
      ...probe(0, tcp(SERVER, 44001, 22, SYN), drop("answered-by-listener"), "syn-ack"),
      ...probe(1 * S, tcp(SERVER, 44002, 22, SYN), hit(SYN_NAME, 22)),
    ],
  },
  {
    name: "badsum",
    covers: "Checksums: one rule for both families (nmap --badsum is not a hit)",
    modes: ["stcp", "sudp"],
    config: {},
    packets: [
      ...probe(0, tcp(SCANNER, 45001, 143, SYN, { badChecksum: true }), drop("bad-checksum"), "none"),
      ...probe(10, tcp(SCANNER6, 45002, 143, SYN, { badChecksum: true }), drop("bad-checksum"), "none"),
      ...probe(20, udp(SCANNER, 45003, 7, { badChecksum: true }), drop("bad-checksum"), "none"),
      ...probe(30, udp(SCANNER6, 45004, 7, { badChecksum: true }), drop("bad-checksum"), "none"),
    ],
  },
  {
    name: "fragments",
    covers: "Fragments: nmap -f / --mtu 8, -ff, a tiny IPv6 fragment, a fragmented UDP probe",
    modes: ["stcp", "sudp"],
    config: {},
    packets: [
      ...fragmented(0, tcp(SCANNER, 46001, 143, SYN), 8, hit(SYN_NAME, 143), 0x101),
      ...fragmented(10, tcp(SCANNER, 46002, 1, FIN), 16, hit("TCP FIN scan", 1), 0x102),
      ...fragmented(20, tcp(SCANNER6, 46003, 11, SYN), 8, hit(SYN_NAME, 11), 0x103),
      ...fragmented(30, tcp(SCANNER6, 46004, 143, 0), 16, hit("TCP NULL scan", 143), 0x104),
      // A UDP header is complete in an 8-byte first fragment: judged as a whole packet.
      ...fragmented(40, udp(SCANNER, 46005, 9, { payloadBytes: 16 }), 8, hit("UDP scan", 9), 0x105),
    ],
  },
  {
    name: "decoys",
    covers:
      "Decoys (-D a,b,ME): every forged source is judged like the scanner (MAX_BLOCKS_PER_MINUTE bounds it)",
    modes: ["stcp"],
    config: {},
    packets: [
      ...probe(0, tcp("198.51.100.21", 47001, 143, SYN), hit(SYN_NAME, 143)),
      ...probe(1, tcp("198.51.100.22", 47001, 143, SYN), hit(SYN_NAME, 143)),
      ...probe(2, tcp(SCANNER, 47001, 143, SYN), hit(SYN_NAME, 143)),
    ],
  },
  {
    name: "forged-flood-probation",
    covers:
      "A budget the attacker cannot spend: 70 forged sources are only put on probation, the scanner too at its first probe, and banned at its second",
    modes: ["stcp"],
    config: { killFirewall: "nftables", probationSec: 600, maxBlocksPerMinute: 60 },
    decisions: [...Array.from({ length: 70 }, () => "probation"), "probation", "respond"],
    packets: [
      ...Array.from({ length: 70 }, (_, i) =>
        probe(i, tcp(`203.0.113.${i + 1}`, 48100, 143, SYN), hit(SYN_NAME, 143)),
      ).flat(),
      ...probe(100, tcp(SCANNER, 48200, 143, SYN), hit(SYN_NAME, 143)),
      ...probe(101, tcp(SCANNER, 48200, 11, SYN), hit(SYN_NAME, 11)),
    ],
  },
  {
    name: "noisy-neighbours",
    covers:
      "Syslog to 514, traceroute -U and -T: probes of closed ports (keep them out with the ignore file)",
    modes: ["atcp", "audp"],
    config: {},
    samePortRepeats: 1,
    packets: [
      ...probe(0, udp(SERVER, 514, 514), hit("UDP scan", 514)),
      ...probe(10, udp(SERVER, 514, 514), hit("UDP scan", 514)),
      ...probe(20, udp(SERVER, 41000, 53), hit("UDP scan", 53)),
      ...probe(30, tcp(SERVER, 41001, 80, SYN), hit(SYN_NAME, 80)),
    ],
  },
  {
    name: "other-protocols",
    covers: "-sO (IP protocols) and -sY (SCTP INIT): not TCP or UDP, not judged (documented)",
    modes: ["atcp", "audp"],
    config: {},
    packets: [
      { ms: 0, ip: rawIpPacket(SCANNER, HOST, 47, new Uint8Array(4)), verdict: drop("not-tcp-udp") },
      { ms: 1, ip: rawIpPacket(SCANNER, HOST, 132, sctpInit(48001, 80)), verdict: drop("not-tcp-udp") },
      { ms: 2, ip: rawIpPacket(SCANNER6, HOST6, 132, sctpInit(48002, 80)), verdict: drop("not-tcp-udp") },
    ],
  },
];

/** An SCTP common header and an INIT chunk's type byte (nmap -sY). */
function sctpInit(sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  b[12] = 1; // INIT
  v.setUint16(14, 20);
  return b;
}
