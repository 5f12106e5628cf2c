/**
 * Which ports a local service listens on: TCP sockets in LISTEN state and bound UDP sockets,
 * IPv4 and IPv6, of this network namespace. Spec §3: such a port is never a trap
 * ("Smart-Verify", "inverse binding"). A port counts whatever address or family it is bound to.
 *
 * Why not a bind probe (what 1.2 did): a bind probe briefly owns the port, so a service starting
 * at that moment fails to bind, and it needs one socket per port and family. Asking the kernel
 * is read-only, sees listeners bound to any local address (a listener on 127.0.0.1:25 makes port
 * 25 "in use" as a bind probe would) and answers for all ports at once.
 *
 * Why NETLINK_SOCK_DIAG first (src/sensors/sock-diag.ts) and /proc/net/{tcp,udp}[6] only as the
 * fallback: reading /proc/net/tcp walks the kernel's whole TCP established hash, whose size
 * follows the host's memory, not its sockets: ~4.5 ms per file on a 24 GiB host with 262 144
 * buckets, even with no socket at all (9 % of the daemon's CPU under a SYN flood). A sock_diag
 * dump asking only for TCP_LISTEN walks only the listening hash: tens of microseconds. Both
 * report the same sockets (state 0A for TCP, 07 for UDP). /proc is read when the addon is not
 * built or the kernel refuses the dump (no AF_NETLINK, no inet_diag module); after one such
 * failure, for the rest of the process. Callers still bound how often they read (see
 * `ListenerTable.refresh`).
 */

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { ListenHistory } from "../detect/listen-history.js";
import { emptyPorts } from "../port-set.js";
import type { PortBitmap } from "../vocabulary.js";
import { readListeningDiag } from "./sock-diag.js";

export type ListenProto = "tcp" | "udp";

/** TCP_LISTEN in /proc/net/tcp*. */
const STATE_TCP_LISTEN = 0x0a;
/**
 * TCP_CLOSE: an unconnected UDP socket, i.e. one bound to receive from anyone (a connected one
 * is TCP_ESTABLISHED, 01). native/sock_diag.c asks the kernel for the same two states.
 */
const STATE_UDP_BOUND = 0x07;

const FILES: Readonly<Record<ListenProto, readonly string[]>> = {
  tcp: ["net/tcp", "net/tcp6"],
  udp: ["net/udp", "net/udp6"],
};

/**
 * Marks in `into` the local port of every line of a /proc/net/{tcp,udp}[6] table whose state is
 * the listening one for `proto`. Malformed lines are skipped; returns how many were.
 * Scans by index instead of splitting, so a table of 100 000 sockets allocates nothing per line.
 */
export function parseProcNet(text: string, proto: ListenProto, into: PortBitmap): number {
  const wanted = proto === "tcp" ? STATE_TCP_LISTEN : STATE_UDP_BOUND;
  let bad = 0;
  let i = text.indexOf("\n") + 1; // the header line
  if (i === 0) return 0;
  while (i < text.length) {
    let end = text.indexOf("\n", i);
    if (end < 0) end = text.length;
    // "  12: 0100007F:0019 00000000:0000 0A ..." — "sl:" then local, remote, state.
    const slEnd = text.indexOf(": ", i);
    const local = slEnd + 2;
    const portColon = slEnd < 0 ? -1 : text.indexOf(":", local);
    const remote = portColon + 6;
    const remoteEnd = portColon < 0 ? -1 : text.indexOf(" ", remote);
    if (slEnd < 0 || slEnd >= end || portColon < 0 || remoteEnd < 0 || remoteEnd + 3 > end) {
      if (text.slice(i, end).trim() !== "") bad++;
      i = end + 1;
      continue;
    }
    const port = hex(text, portColon + 1, 4);
    const state = hex(text, remoteEnd + 1, 2);
    if (port < 0 || state < 0 || text.charCodeAt(portColon + 5) !== 32) bad++;
    else if (state === wanted) into[port] = 1;
    i = end + 1;
  }
  return bad;
}

/** Parses `digits` hex characters at `at`; -1 if any is not a hex digit. */
function hex(text: string, at: number, digits: number): number {
  let v = 0;
  for (let k = 0; k < digits; k++) {
    const c = text.charCodeAt(at + k);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 65 && c <= 70) d = c - 55;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

const PROC = "/proc";

/** Why sock_diag is not used, once it has failed (or was never there); undefined while it works. */
let diagUnavailable: string | undefined;

/** The listeners by sock_diag, or undefined (from the first failure on) when /proc must do. */
function readDiag(proto: ListenProto): PortBitmap | undefined {
  if (diagUnavailable !== undefined) return undefined;
  try {
    return readListeningDiag(proto);
  } catch (error) {
    diagUnavailable = error instanceof Error ? error.message : String(error);
    return undefined;
  }
}

/** Where reads of the real /proc root come from, and why not sock_diag if not. */
export function listeningSource(): { readonly source: "sock_diag" | "proc"; readonly reason?: string } {
  return diagUnavailable === undefined
    ? { source: "sock_diag" }
    : { source: "proc", reason: diagUnavailable };
}

/** Reads the listeners of one protocol from /proc/net; a missing file (no IPv6) counts as empty. */
export function readListeningProc(proto: ListenProto, procRoot = PROC): PortBitmap {
  const out = emptyPorts();
  for (const file of FILES[proto]) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/${file}`, "latin1");
    } catch {
      continue;
    }
    parseProcNet(text, proto, out);
  }
  return out;
}

/**
 * Reads the listeners of one protocol: by sock_diag, or from /proc/net when that is unavailable
 * or when `procRoot` is not the real /proc (tests pass a fake one).
 */
export function readListening(proto: ListenProto, procRoot = PROC): PortBitmap {
  return (procRoot === PROC ? readDiag(proto) : undefined) ?? readListeningProc(proto, procRoot);
}

/**
 * Like `readListening`; a /proc read runs on libuv's thread pool, so the event loop is not held
 * during it. A sock_diag read takes microseconds: it runs at once and resolves a settled promise.
 */
export async function readListeningAsync(proto: ListenProto, procRoot = PROC): Promise<PortBitmap> {
  const diag = procRoot === PROC ? readDiag(proto) : undefined;
  if (diag !== undefined) return diag;
  const out = emptyPorts();
  for (const file of FILES[proto]) {
    let text: string;
    try {
      text = await readFile(`${procRoot}/${file}`, "latin1");
    } catch {
      continue;
    }
    parseProcNet(text, proto, out);
  }
  return out;
}

/** The brief's convenience form: every listening port, per protocol. */
export function listeningPorts(procRoot = PROC): { tcp: Set<number>; udp: Set<number> } {
  const toSet = (b: PortBitmap): Set<number> => {
    const s = new Set<number>();
    for (let p = 0; p < 65536; p++) if (b[p] === 1) s.add(p);
    return s;
  };
  return { tcp: toSet(readListening("tcp", procRoot)), udp: toSet(readListening("udp", procRoot)) };
}

export interface ListenerTableOptions {
  readonly monoMs: () => number;
  /**
   * Never re-read more often than this (default 100 ms: a sock_diag dump is cheap, but each new
   * snapshot releases the probes waiting for it in a batch of its own; under a flood, reads every
   * 10 ms cost more in batches than in reading)...
   */
  readonly minIntervalMs?: number;
  /**
   * ...nor, in the long run, more often than `costFactor` × a read's duration (default 20:
   * ≤ 5 % CPU). A token bucket: reading time is credited at 1/costFactor of the time passing,
   * up to `burstMs` (default 50 ms), so that a few reads in a row (lone probes after a quiet
   * spell) wait only for `minIntervalMs`, while a flood settles at the cost bound.
   */
  readonly costFactor?: number;
  readonly burstMs?: number;
  /** ...but at least every `maxIntervalMs` while asked (default 250 ms): bounds the wait. */
  readonly maxIntervalMs?: number;
  readonly procRoot?: string;
  /** For tests: replaces reading the kernel's tables. */
  readonly read?: (proto: ListenProto) => PortBitmap | Promise<PortBitmap>;
}

/**
 * The listening ports per protocol as of a known moment (when the read began), re-read on
 * demand but never more often than the rate bound, so that a flood cannot make us read the
 * kernel's tables per packet. A read is normally a sock_diag dump, whose cost follows the number
 * of listeners (tens of µs on the event loop); the rate bound matters for the /proc fallback,
 * where reading /proc/net/tcp costs in proportion to the kernel's TCP hash table, not to the
 * number of sockets (~4.5 ms per file on a 24 GiB host with 262 144 buckets, even with no socket
 * at all; UDP ~40 µs), which is why that fallback reads on the thread pool. The bound is by
 * measured cost, so it relaxes by itself when reads are cheap.
 */
export class ListenerTable {
  readonly #minIntervalMs: number;
  readonly #costFactor: number;
  readonly #maxIntervalMs: number;
  readonly #monoMs: () => number;
  readonly #read: (proto: ListenProto) => PortBitmap | Promise<PortBitmap>;
  readonly #readSync: (proto: ListenProto) => PortBitmap;
  readonly #ports: Record<ListenProto, PortBitmap> = { tcp: emptyPorts(), udp: emptyPorts() };
  /** Monotonic time at which the current snapshot's read began; -Infinity before any. */
  readonly #readStartMs: Record<ListenProto, number> = { tcp: -Infinity, udp: -Infinity };
  readonly #nextAllowedMs: Record<ListenProto, number> = { tcp: -Infinity, udp: -Infinity };
  readonly #burstMs: number;
  /** Reading time (ms) still allowed at once, and when it was last brought up to date. */
  readonly #creditMs: Record<ListenProto, number>;
  readonly #creditAtMs: Record<ListenProto, number> = { tcp: -Infinity, udp: -Infinity };
  readonly #inFlight: Record<ListenProto, { startMs: number; done: Promise<void> } | undefined> = {
    tcp: undefined,
    udp: undefined,
  };
  reads = 0;
  lastReadCostMs = 0;
  /** When each port was last seen listening (LISTEN_GRACE). */
  readonly history = new ListenHistory();

  constructor(o: ListenerTableOptions) {
    this.#minIntervalMs = o.minIntervalMs ?? 100;
    this.#costFactor = o.costFactor ?? 20;
    this.#maxIntervalMs = o.maxIntervalMs ?? 250;
    this.#burstMs = o.burstMs ?? 50;
    this.#creditMs = { tcp: this.#burstMs, udp: this.#burstMs };
    this.#monoMs = o.monoMs;
    const procRoot = o.procRoot ?? "/proc";
    const injected = o.read;
    this.#read = injected ?? ((proto) => readListeningAsync(proto, procRoot));
    this.#readSync = (proto) => {
      const r = injected?.(proto);
      return r instanceof Uint8Array ? r : readListening(proto, procRoot);
    };
  }

  /** Reads now, synchronously, whatever the rate bound says (start-up). */
  refreshSync(proto: ListenProto): void {
    const start = this.#monoMs();
    this.#store(proto, start, this.#readSync(proto), true);
  }

  /**
   * Starts a read now (or joins the one in flight) and resolves when the snapshot is updated.
   * Callers check `nextReadAllowedMs` first; this does not enforce the bound itself.
   */
  refresh(proto: ListenProto): Promise<void> {
    const running = this.#inFlight[proto];
    if (running !== undefined) return running.done;
    const start = this.#monoMs();
    const done = (async () => {
      let ports: PortBitmap;
      let fresh = true;
      try {
        ports = await this.#read(proto);
      } catch {
        ports = this.#ports[proto]; // keep the old facts; the next read tries again
        fresh = false;
      }
      this.#store(proto, start, ports, fresh);
      this.#inFlight[proto] = undefined;
    })();
    this.#inFlight[proto] = { startMs: start, done };
    return done;
  }

  /** The read in flight, if any, and when it began. */
  inFlight(proto: ListenProto): { readonly startMs: number; readonly done: Promise<void> } | undefined {
    return this.#inFlight[proto];
  }

  #store(proto: ListenProto, startMs: number, ports: PortBitmap, fresh: boolean): void {
    const end = this.#monoMs();
    if (fresh) this.history.noteSnapshot(proto, ports, end);
    this.#ports[proto] = ports;
    this.reads++;
    this.lastReadCostMs = end - startMs;
    this.#readStartMs[proto] = startMs;
    const earned = (end - this.#creditAtMs[proto]) / this.#costFactor;
    const credit = Math.min(this.#burstMs, this.#creditMs[proto] + earned) - this.lastReadCostMs;
    this.#creditMs[proto] = credit;
    this.#creditAtMs[proto] = end;
    // In debt: wait until the debt is earned back, but never longer than `maxIntervalMs`.
    const repaidMs = end + Math.max(0, -credit) * this.#costFactor;
    this.#nextAllowedMs[proto] = Math.max(
      startMs + this.#minIntervalMs,
      Math.min(repaidMs, startMs + this.#maxIntervalMs),
    );
  }

  /** When the rate bound next allows a read (monotonic ms). */
  nextReadAllowedMs(proto: ListenProto): number {
    return this.#nextAllowedMs[proto];
  }

  /** Monotonic ms at which the current snapshot's read began. */
  snapshotMs(proto: ListenProto): number {
    return this.#readStartMs[proto];
  }

  has(proto: ListenProto, port: number): boolean {
    return this.#ports[proto][port] === 1;
  }

  /** The current snapshot (do not modify). */
  ports(proto: ListenProto): PortBitmap {
    return this.#ports[proto];
  }
}
