/**
 * The NFLOG worker: a child process of the daemon that reads the kernel trap's log group
 * through libpcap's `nflog:<group>` device (link type NFLOG, 239) and sends one event per
 * logged packet: the kernel dropped that probe and blocked its source.
 *
 * A process of its own for the reason capture.ts gives: node_pcap cannot release a live
 * capture, and an NFLOG group is bound by one reader at a time, so a reader that must be
 * replaced (it died, the daemon stops) is replaced by ending its process.
 *
 * Not the capture worker: that one pairs TCP probes with the kernel's answer (there is none
 * here: the probe was dropped) and drops frames from this host's addresses or to unwatched
 * ports, where here every frame is a block that already happened and must reach the daemon.
 *
 * Started by kernel-trap-sensor.ts with an IPC channel; the first message is the plan.
 */

import { formatIpv4, formatIpv6 } from "../decode/address.js";
import { decodeNflog, ipSourceOf, LINKTYPE_NFLOG } from "../decode/nflog.js";
import { decodeFrame, PacketFacts } from "../decode/packet.js";
import { type LiveCapture, openLiveCapture } from "./capture.js";
import {
  isNflogParentMessage,
  type NflogEvent,
  type NflogPlan,
  type NflogWorkerMessage,
} from "./nflog-protocol.js";
import { sendToParent, serveParent } from "./worker-process.js";

/** Events per IPC message; more wait for the next one. */
const EVENTS_PER_BATCH = 1024;
/** IPC messages sent but not yet written; beyond it events are dropped (and counted). */
const MAX_BATCHES_IN_FLIGHT = 64;
/**
 * The kernel checked the IP length before prerouting; the NFLOG copy may be cut at the rule's
 * snaplen, so the decoder's "IP length within the frame" check is given the largest datagram.
 */
const MAX_DATAGRAM_BYTES = 65_535 + 40;

class Worker {
  readonly #plan: NflogPlan;
  readonly #facts = new PacketFacts();
  #capture: LiveCapture | undefined;
  #batch: NflogEvent[] = [];
  #flushScheduled = false;
  #inFlight = 0;
  #stopping = false;
  frames = 0;
  events = 0;
  ipcDropped = 0;
  readonly drops: Record<string, number> = {};

  constructor(plan: NflogPlan) {
    this.#plan = plan;
  }

  open(): void {
    const r = openLiveCapture(
      this.#plan.device,
      {
        filter: "",
        snapLength: this.#plan.snapLength,
        bufferBytes: this.#plan.bufferBytes,
        bufferTimeoutMs: this.#plan.bufferTimeoutMs,
      },
      (frame, capturedLength, linkType, _wireLength, timestampUs) =>
        this.#onFrame(frame.subarray(0, capturedLength), linkType, timestampUs),
    );
    if (!r.ok) {
      // The kernel refuses a group another socket has bound with EPERM, the same answer as to
      // a process without CAP_NET_ADMIN: say both.
      const busy = /listen on group/i.test(r.error);
      const error = busy
        ? `${r.error.replace(/ \(needs CAP_NET_RAW\)$/, "")}: another process (ulogd, another portsentry) reads this NFLOG group, or CAP_NET_ADMIN is missing`
        : r.error;
      send({ t: "ready", ok: false, error, permission: busy ? false : r.permission }, () => process.exit(1));
      return;
    }
    this.#capture = r.capture;
    send({ t: "ready", ok: true, linkType: r.capture.linkType });
    setInterval(() => this.#sendStats(), this.#plan.statsIntervalMs).unref();
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
        address: f.family === 4 ? formatIpv4(f.src) : formatIpv6(f.src),
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
        address: n.family === 4 ? formatIpv4(src) : formatIpv6(src),
        protocol: 0,
        port: 0,
        tcpFlags: 0,
        ipOptions: false,
        tsUs,
        decode: status === "ok" ? "family-mismatch" : status,
      };
    }
    this.events++;
    this.#batch.push(event);
    if (this.#batch.length >= EVENTS_PER_BATCH) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#batch.length === 0) return;
    const events = this.#batch;
    this.#batch = [];
    if (this.#inFlight >= MAX_BATCHES_IN_FLIGHT) {
      this.ipcDropped += events.length;
      return;
    }
    this.#inFlight++;
    send({ t: "events", events }, () => {
      this.#inFlight--;
    });
  }

  #sendStats(done?: () => void): void {
    const s = this.#capture?.stats();
    send(
      {
        t: "stats",
        counters: {
          frames: this.frames,
          events: this.events,
          drops: { ...this.drops },
          ipcDropped: this.ipcDropped,
          kernelDropped: s?.dropped ?? 0,
        },
      },
      done,
    );
  }

  /** Sends what is batched and the last counters, then exits: the kernel unbinds the group. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#flush();
    this.#sendStats(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }
}

const send: (message: NflogWorkerMessage, done?: () => void) => void = sendToParent;

function main(): void {
  serveParent("nflog-worker", isNflogParentMessage, (plan) => new Worker(plan));
  // The daemon ends us (IPC "stop", or its exit closes the channel) after it has disarmed the
  // trap; a signal to the whole process group (systemd's SIGTERM, Ctrl-C) must not end us
  // first, or blocks made in between would go unrecorded.
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
}

main();
