/**
 * The per-packet rules of the stealth and advanced modes, shared by the live capture
 * (capture-engine.ts, capture-sensor.ts) and by `portsentry replay` (src/replay/), so that a capture
 * replayed offline is judged exactly as it was live. Pure and allocation-free per packet.
 *
 * After decoding, a packet is one of:
 * - this host's own answer to a TCP probe: RST (no socket listened) or SYN+ACK (one did);
 * - another packet from this host (never a probe; it starts or refreshes a flow of ours);
 * - a packet of a flow this host started (own-flows.ts): a reply, never a probe (issue #14);
 * - a probe candidate: to a watched port and, for TCP, neither ACK nor RST set (spec §3), or
 *   with DETECT_ACK_SCANS, no RST (an ACK-bearing one stands only if the host answers RST:
 *   `ackProbeStands`);
 * - something else, with the reason it is not a candidate.
 */

import { parseIp } from "../decode/address.js";
import type { PacketFacts } from "../decode/packet.js";
import type { Hit, Mode, PortBitmap } from "../vocabulary.js";
import { classifyTcp, type ScanClass, TcpFlag, UDP_SCAN } from "./classify.js";
import type { OwnFlows } from "./own-flows.js";

/** What a decoded packet is to the stealth sensor. */
export type Sifted =
  | "probe"
  /** From this host: TCP RST or SYN+ACK, or ICMP port unreachable: may answer a pending probe. */
  | "reply"
  /** The link header says this host sent it (Linux cooked captures). */
  | "outgoing"
  /** From one of this host's addresses, and not a reply. */
  | "own-source"
  /** Of a flow this host started (a UDP answer to our query, a segment of our connection). */
  | "own-flow"
  /** Not addressed to this host (only when destinations are checked: replay). */
  | "not-local"
  | "not-watched"
  /** TCP with ACK or RST: part of a conversation; or an ICMP error not sent by this host. */
  | "not-probe";

/** The reasons a packet is not a candidate: every `Sifted` but "probe" and "reply". */
export type SiftDrop = Exclude<Sifted, "probe" | "reply">;

export interface ProbeSieveOptions {
  /** Watched TCP ports; undefined when no TCP mode runs. */
  readonly tcp: PortBitmap | undefined;
  readonly udp: PortBitmap | undefined;
  /** This host's addresses (text; unparsable entries are skipped). */
  readonly ownAddresses: readonly string[];
  /**
   * Require the destination to be one of `ownAddresses`. Live, the kernel filter already did
   * (so the live capture leaves it off); a capture file may hold other hosts' traffic.
   */
  readonly checkDestination: boolean;
  /** DETECT_ACK_SCANS: a TCP packet with ACK (but no RST) is a candidate too. */
  readonly ackScans: boolean;
  /** The flows this host started (noted from its own packets); undefined: none kept. */
  readonly flows: OwnFlows | undefined;
}

/** This host's addresses, for a per-packet membership test without allocation. */
export class OwnAddresses {
  readonly #v4 = new Set<number>();
  readonly #v6: Uint8Array[] = [];

  constructor(addresses: readonly string[]) {
    for (const text of addresses) {
      const ip = parseIp(text);
      if (ip === undefined) continue;
      if (ip.family === 4) {
        const b = ip.bytes;
        this.#v4.add(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0);
      } else {
        this.#v6.push(ip.bytes);
      }
    }
  }

  /** The packet's source is ours. */
  hasSource(f: PacketFacts): boolean {
    return f.family === 4 ? this.#v4.has(f.srcV4) : this.#hasV6(f.src);
  }

  /** The packet's destination is ours. */
  hasDestination(f: PacketFacts): boolean {
    return f.family === 4 ? this.#v4.has(f.dstV4) : this.#hasV6(f.dst);
  }

  #hasV6(bytes: Uint8Array): boolean {
    for (const own of this.#v6) {
      let same = true;
      for (let i = 0; i < 16 && same; i++) same = own[i] === bytes[i];
      if (same) return true;
    }
    return false;
  }
}

export class ProbeSieve {
  readonly #tcp: PortBitmap | undefined;
  readonly #udp: PortBitmap | undefined;
  readonly #own: OwnAddresses;
  readonly #checkDestination: boolean;
  /** TCP flags that make a packet part of a conversation, not a probe. */
  readonly #notProbeFlags: number;
  readonly #flows: OwnFlows | undefined;

  constructor(options: ProbeSieveOptions) {
    this.#notProbeFlags = options.ackScans ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK;
    this.#flows = options.flows;
    this.#tcp = options.tcp;
    this.#udp = options.udp;
    this.#own = new OwnAddresses(options.ownAddresses);
    this.#checkDestination = options.checkDestination;
  }

  /**
   * Judges one decoded packet (decodeFrame said "ok") at `nowMs` (the caller's clock: the
   * flows' idle times are measured in it).
   */
  sift(f: PacketFacts, nowMs: number): Sifted {
    if (f.outgoing) {
      if (!isAnswer(f)) this.#flows?.noteOutgoing(f, nowMs);
      return "outgoing";
    }
    if (this.#own.hasSource(f)) {
      if (isAnswer(f)) return "reply";
      this.#flows?.noteOutgoing(f, nowMs);
      return "own-source";
    }
    if (f.icmpUnreachable) return "not-probe"; // someone else's ICMP error: no probe of ours
    if (this.#checkDestination && !this.#own.hasDestination(f)) return "not-local";
    const watched = f.protocol === 6 ? this.#tcp : this.#udp;
    if (watched === undefined || watched[f.dstPort] !== 1) return "not-watched";
    if (f.protocol === 6 && (f.tcpFlags & this.#notProbeFlags) !== 0) return "not-probe";
    if (this.#flows?.isReply(f, nowMs) === true) return "own-flow";
    return "probe";
  }
}

/**
 * DETECT_ACK_SCANS: an ACK-bearing probe is a hit only when this host answered it with RST (no
 * connection of ours knows it); one left unanswered may be a segment of a live connection.
 * Every other probe stands whatever the answer.
 */
export function ackProbeStands(protocol: number, tcpFlags: number, answeredClosed: boolean): boolean {
  return protocol !== 6 || (tcpFlags & TcpFlag.ACK) === 0 || answeredClosed;
}

/** This host's answer to a probe: TCP RST or SYN+ACK, or an ICMP port unreachable to a UDP one. */
function isAnswer(f: PacketFacts): boolean {
  return f.protocol === 6 ? isReply(f.tcpFlags) : f.icmpUnreachable;
}

/** The kernel's verdict on a TCP probe: RST, or SYN and ACK together. */
export function isReply(flags: number): boolean {
  return (flags & TcpFlag.RST) !== 0 || (flags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
}

/**
 * What a reply says about the probed port: RST or ICMP port unreachable = nothing listened;
 * SYN+ACK = a socket did.
 */
export function replyMeansListening(reply: PacketFacts): boolean {
  return reply.protocol === 6 && (reply.tcpFlags & TcpFlag.RST) === 0;
}

/** Spec §4: the 1.2 name of a probe by protocol and TCP flags. */
export function probeClass(protocol: number, tcpFlags: number): ScanClass {
  return protocol === 6 ? classifyTcp(tcpFlags) : UDP_SCAN;
}

/** A probe that passed the listener check, as the pipeline's `Hit`. */
export function probeHit(
  mode: Mode,
  family: 4 | 6,
  address: string,
  port: number,
  protocol: number,
  tcpFlags: number,
  ipOptions: boolean,
  nowMs: number,
): Hit {
  return {
    mode,
    address,
    family,
    port,
    classification: probeClass(protocol, tcpFlags).name,
    ipOptions,
    nowMs,
  };
}
