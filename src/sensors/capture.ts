/**
 * Live packet capture on one interface through libpcap (node_pcap). The only importer of `pcap`.
 *
 * Runs inside the capture worker process (capture-worker.ts), never in the daemon itself:
 * node_pcap 3.1.0 cannot release a live capture. Its close() only sets libpcap's break-loop
 * flag, which a non-blocking read honours when the *next* packet arrives; until then the
 * handle, its socket, its kernel ring and a referenced libuv poll stay alive (the process
 * cannot exit), and on an interface that vanished that never happens. So captures live as long
 * as their process, and the process is what gets replaced or ended.
 *
 * Settings (measured on veth, 140 000 SYN/s, `bench/capture-flood.bench.ts` for the sensor):
 * - `bufferTimeoutMs` 0, immediate mode (TPACKET_V2), with `holdUnderLoadMs` 1: a packet wakes
 *   the worker at once (~15 µs), as long as packets are rare; once more than
 *   `BUSY_FRAMES` arrive in a `LOAD_WINDOW_MS` window, each read first waits `holdUnderLoadMs`
 *   (a blocking wait: this process does nothing else) so that a read takes a millisecond's
 *   frames at once. Alone, immediate mode cost 28 % of a core at 105 kpps (a wake-up per
 *   packet). The alternative, TPACKET_V3 with a 1 ms block timeout, costs ~2 % at 140 kpps but
 *   delivers a lone packet only when the kernel retires its block: 0.5 ms median, and 1.7–2.9
 *   ms for the first packet after an idle spell (the timer plus a cold wake-up).
 * - `snapLength` 256: every header we decode (link 14 + 2 VLAN tags 8 + IPv6 40 + extension
 *   headers + TCP 20) in the common case; a longer IPv6 extension chain is counted as
 *   "truncated". Small frames keep more of them in the ring.
 * - `bufferBytes` 16 MiB: ~140 000 small probes, about a second of a 160 kpps flood while the
 *   worker is busy or descheduled.
 * - promiscuous off: only what this host's interface accepts (its MAC, broadcast, multicast).
 */

import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import type { InterfaceStats } from "./capture-protocol.js";

type PcapModule = typeof import("pcap");
type PcapSession = ReturnType<PcapModule["createSession"]>;

const require = createRequire(import.meta.url);
let pcapModule: PcapModule | undefined;

/** Loads the binding on first use, so that importing this file costs nothing elsewhere. */
function loadPcap(): PcapModule {
  if (pcapModule === undefined) {
    pcapModule = require("pcap") as PcapModule;
    // libpcap warns (e.g. "no IPv4 address assigned") through console.warn by default.
    (pcapModule as { warningHandler: (text: string) => void }).warningHandler = () => {};
  }
  return pcapModule;
}

/** One captured frame: a view valid only during the call; `timestampUs` is the kernel's. */
export type FrameHandler = (
  frame: Uint8Array,
  linkType: number,
  wireLength: number,
  timestampUs: number,
) => void;

export interface LiveCaptureOptions {
  readonly filter: string;
  readonly snapLength: number;
  readonly bufferBytes: number;
  /** 0: immediate mode (a wake-up per packet); > 0: TPACKET_V3 block timeout. */
  readonly bufferTimeoutMs: number;
  /** Immediate mode under load: wait this long before each read (0: never). */
  readonly holdUnderLoadMs?: number;
}

export const DEFAULT_CAPTURE_OPTIONS: Omit<LiveCaptureOptions, "filter"> = {
  snapLength: 256,
  bufferBytes: 16 << 20,
  bufferTimeoutMs: 0,
  holdUnderLoadMs: 1,
};

/** Load is judged per window: more than BUSY_FRAMES frames in one (2 000 frames/s). */
const LOAD_WINDOW_MS = 10;
const BUSY_FRAMES = 20;
/** Atomics.wait needs a shared cell; nobody ever notifies it: the wait always times out. */
const HOLD_CELL = new Int32Array(new SharedArrayBuffer(4));

export type OpenCaptureResult =
  | { readonly ok: true; readonly capture: LiveCapture }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

/** node_pcap names the common link types; the others come as "Unknown linktype N". */
const LINK_TYPES: Readonly<Record<string, number>> = {
  LINKTYPE_NULL: 0,
  LINKTYPE_ETHERNET: 1,
  LINKTYPE_RAW: 12,
  LINKTYPE_IEEE802_11_RADIO: 127,
  LINKTYPE_LINUX_SLL: 113,
};

export function linkTypeNumber(name: string): number {
  const known = LINK_TYPES[name];
  if (known !== undefined) return known;
  const m = /^Unknown linktype (\d+)$/.exec(name);
  return m ? Number(m[1]) : -1;
}

/** Turns libpcap's open error into a message; says which capability is missing. */
export function describeOpenError(iface: string, message: string): { error: string; permission: boolean } {
  if (/permission|not permitted/i.test(message)) {
    return { error: `${message} (needs CAP_NET_RAW)`, permission: true };
  }
  if (/no such device|doesn't exist|not exist/i.test(message)) {
    return { error: `interface ${iface} does not exist (${message})`, permission: false };
  }
  return { error: message, permission: false };
}

export function openLiveCapture(
  iface: string,
  options: LiveCaptureOptions,
  onFrame: FrameHandler,
): OpenCaptureResult {
  let pcap: PcapModule;
  try {
    pcap = loadPcap();
  } catch (err) {
    return { ok: false, error: `cannot load the pcap module: ${(err as Error).message}`, permission: false };
  }
  let session: PcapSession;
  try {
    session = pcap.createSession(iface, {
      filter: options.filter,
      snap_length: options.snapLength,
      buffer_size: options.bufferBytes,
      buffer_timeout: options.bufferTimeoutMs,
      promiscuous: false,
    });
  } catch (err) {
    return { ok: false, ...describeOpenError(iface, (err as Error).message) };
  }
  const capture = new LiveCapture(iface, session, options.snapLength, onFrame);
  const holdMs = options.holdUnderLoadMs ?? 0;
  if (options.bufferTimeoutMs <= 0 && holdMs > 0) capture.holdUnderLoad(holdMs);
  return { ok: true, capture };
}

export class LiveCapture {
  readonly iface: string;
  readonly linkType: number;
  /** Frames whose handler threw (a bug): counted, never allowed to kill the process. */
  handlerErrors = 0;
  readonly #session: PcapSession;
  /** Views of the session's one packet buffer, by captured length: no allocation per frame. */
  readonly #views: (Uint8Array | undefined)[];
  #windowStartMs = 0;
  #windowFrames = 0;
  #busy = false;

  constructor(iface: string, session: PcapSession, snapLength: number, onFrame: FrameHandler) {
    this.iface = iface;
    this.#session = session;
    this.linkType = linkTypeNumber(session.link_type);
    this.#views = new Array<Uint8Array | undefined>(snapLength + 1);
    const linkType = this.linkType;
    session.on("packet", (p: { buf: Buffer; header: Buffer }) => {
      this.#windowFrames++;
      try {
        const header = p.header;
        const seconds = header.readUInt32LE(0);
        const micros = header.readUInt32LE(4);
        const capturedLength = Math.min(header.readUInt32LE(8), p.buf.length);
        const wireLength = header.readUInt32LE(12);
        let view = this.#views[capturedLength];
        if (view === undefined) {
          view = p.buf.subarray(0, capturedLength);
          this.#views[capturedLength] = view;
        }
        onFrame(view, linkType, wireLength, seconds * 1e6 + micros);
      } catch {
        // node_pcap turns an exception in its callback into a fatal one.
        this.handlerErrors++;
      }
    });
  }

  /**
   * Immediate mode: makes each read under load wait `holdMs` first, so that it takes the
   * frames of that time together. node_pcap 3.1.0 calls its session's `read_callback` each
   * time the socket is readable; that callback is wrapped here (the version is pinned).
   */
  holdUnderLoad(holdMs: number): void {
    const native = (this.#session as unknown as { session?: { read_callback?: () => void } }).session;
    const read = native?.read_callback;
    if (native === undefined || typeof read !== "function") return;
    native.read_callback = () => {
      const now = performance.now();
      const elapsed = now - this.#windowStartMs;
      if (elapsed >= LOAD_WINDOW_MS) {
        // A window long past (an idle spell) never counts as load.
        this.#busy = this.#windowFrames > BUSY_FRAMES && elapsed < 2 * LOAD_WINDOW_MS;
        this.#windowStartMs = now;
        this.#windowFrames = 0;
      }
      if (this.#busy) Atomics.wait(HOLD_CELL, 0, 0, holdMs);
      read();
    };
  }

  /** Kernel counters; undefined once libpcap has released the handle. */
  stats(): InterfaceStats | undefined {
    try {
      const s = this.#session.stats();
      return { name: this.iface, received: s.ps_recv, dropped: s.ps_drop, ifDropped: s.ps_ifdrop };
    } catch {
      return undefined;
    }
  }

  /** Stops delivery. The handle itself is released only by the next packet or process exit. */
  close(): void {
    try {
      this.#session.close();
    } catch {
      // already closed
    }
  }
}
