/**
 * The NFLOG reader: reads the kernel trap's log group through libpcap's `nflog:<group>` device
 * (link type NFLOG, 239) on the daemon's event loop and turns each logged packet into an event:
 * the kernel dropped that probe and blocked its source.
 *
 * Not the capture engine: that one pairs TCP probes with the kernel's answer (there is none
 * here: the probe was dropped) and drops frames from this host's addresses or to unwatched
 * ports, where here every frame is a block that already happened and must be recorded.
 */

import { formatSourceIp } from "../decode/address.js";
import { decodeNflog, ipSourceOf, LINKTYPE_NFLOG } from "../decode/nflog.js";
import { decodeFrame, PacketFacts } from "../decode/packet.js";
import { type LiveCapture, openLiveCapture } from "./capture.js";

export interface NflogPlan {
  /** libpcap device, `nflog:<group>`. */
  readonly device: string;
  readonly snapLength: number;
  readonly bufferBytes: number;
  readonly bufferTimeoutMs: number;
}

/** One logged packet: a probe the kernel dropped and whose source it blocked. */
export interface NflogEvent {
  /** The rule's log prefix (which trap matched). */
  readonly prefix: string;
  readonly family: 4 | 6;
  /** Canonical text of the source address. */
  readonly address: string;
  /** 6 or 17; 0 when the transport header could not be decoded. */
  readonly protocol: 0 | 6 | 17;
  /** Destination port; 0 when not decoded. */
  readonly port: number;
  readonly tcpFlags: number;
  readonly ipOptions: boolean;
  /** Capture time, µs since the epoch (libpcap's, for latency figures). */
  readonly tsUs: number;
  /** "ok", or the decoder's reason when only the IP header could be read. */
  readonly decode: string;
}

export interface NflogCounters {
  /** Frames libpcap delivered. */
  readonly frames: number;
  readonly events: number;
  /** Frames with no usable source address, by reason: a block nobody can name (rare). */
  readonly drops: Readonly<Record<string, number>>;
  /** Netlink messages the kernel could not queue to us (libpcap ps_drop: ENOBUFS). */
  readonly kernelDropped: number;
}

export interface NflogSink {
  event(e: NflogEvent): void;
  /** The read failed for good: this reader delivers nothing more. */
  failed(error: string): void;
}

/**
 * The kernel checked the IP length before prerouting; the NFLOG copy may be cut at the rule's
 * snaplen, so the decoder's "IP length within the frame" check is given the largest datagram.
 */
const MAX_DATAGRAM_BYTES = 65_535 + 40;
/**
 * NFLOG messages per read handed over at once. Each slot holds a whole message (up to the snap
 * length), and events are rare (one per kernel block, rate-limited), so few slots suffice.
 */
const SLOTS_PER_BATCH = 16;

export class NflogReader {
  readonly #plan: NflogPlan;
  readonly #sink: NflogSink;
  readonly #facts = new PacketFacts();
  #capture: LiveCapture | undefined;
  frames = 0;
  events = 0;
  readonly drops: Record<string, number> = {};

  constructor(plan: NflogPlan, sink: NflogSink) {
    this.#plan = plan;
    this.#sink = sink;
  }

  /** Binds the group; says why not when it cannot. */
  open(): { ok: true } | { ok: false; error: string; permission: boolean } {
    const r = openLiveCapture(
      this.#plan.device,
      {
        filter: "",
        snapLength: this.#plan.snapLength,
        bufferBytes: this.#plan.bufferBytes,
        bufferTimeoutMs: this.#plan.bufferTimeoutMs,
        slotsPerBatch: SLOTS_PER_BATCH,
        onFailure: (error) => this.#sink.failed(error),
      },
      (frame, capturedLength, linkType, _wireLength, timestampUs) =>
        this.deliver(frame.subarray(0, capturedLength), linkType, timestampUs),
    );
    if (!r.ok) {
      // The kernel refuses a group another socket has bound with EPERM, the same answer as to
      // a process without CAP_NET_ADMIN: say both.
      const busy = /listen on group/i.test(r.error);
      const error = busy
        ? `${r.error.replace(/ \(needs CAP_NET_RAW\)$/, "")}: another process (ulogd, another portsentry) reads this NFLOG group, or CAP_NET_ADMIN is missing`
        : r.error;
      return { ok: false, error, permission: busy ? false : r.permission };
    }
    this.#capture = r.capture;
    return { ok: true };
  }

  /** Decodes one frame as if read: the live capture's path, and the warm-up's. */
  deliver(frame: Uint8Array, linkType: number, tsUs: number): void {
    this.#onFrame(frame, linkType, tsUs);
  }

  counters(): NflogCounters {
    return {
      frames: this.frames,
      events: this.events,
      drops: { ...this.drops },
      kernelDropped: this.#capture?.stats()?.dropped ?? 0,
    };
  }

  /** Delivers what the socket holds, then unbinds the group. Returns the last counters. */
  close(): NflogCounters {
    this.#capture?.drain();
    const last = this.counters();
    this.#capture?.close();
    this.#capture = undefined;
    return last;
  }

  #drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  #onFrame(frame: Uint8Array, linkType: number, tsUs: number): void {
    this.frames++;
    if (linkType !== LINKTYPE_NFLOG) {
      this.#drop("not-nflog");
      return;
    }
    const n = decodeNflog(frame);
    if (!n.ok) {
      this.#drop(`nflog-${n.status}`);
      return;
    }
    const f = this.#facts;
    const status = decodeFrame(n.payload, n.payloadLinkType, f, MAX_DATAGRAM_BYTES);
    let event: NflogEvent;
    if (status === "ok" && f.family === n.family) {
      event = {
        prefix: n.prefix,
        family: f.family,
        address: formatSourceIp(f.family, f.src),
        protocol: f.protocol,
        port: f.dstPort,
        tcpFlags: f.tcpFlags,
        ipOptions: f.ipOptions,
        tsUs,
        decode: "ok",
      };
    } else {
      // The kernel blocked this source whatever its headers: name it from the IP header alone.
      const src = ipSourceOf(n.payload, n.family);
      if (src === undefined) {
        this.#drop(`ip-${status}`);
        return;
      }
      event = {
        prefix: n.prefix,
        family: n.family,
        address: formatSourceIp(n.family, src),
        protocol: 0,
        port: 0,
        tcpFlags: 0,
        ipOptions: false,
        tsUs,
        decode: status === "ok" ? "family-mismatch" : status,
      };
    }
    this.events++;
    this.#sink.event(event);
  }
}
