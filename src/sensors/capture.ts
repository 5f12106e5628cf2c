/**
 * Live packet capture on one interface (or libpcap device such as `nflog:31337`) through our
 * own libpcap addon (native/live_capture.c). The only importer of that addon.
 *
 * The addon polls libpcap's fd on the daemon's event loop and hands over each read's frames in
 * one call, copied into a batch buffer owned here; `close()` releases the socket and its ring at
 * once. (The `pcap` npm package could not: its close() waited for the next packet, so captures
 * had to live in a child process, which cost an IPC hop per probe.)
 *
 * Settings (measured on veth, 140 000 SYN/s; figures in docs/benchmarks.md):
 * - immediate mode (TPACKET_V2) with `holdUnderLoadMs` 1: a packet is read the moment it
 *   arrives as long as packets are rare; once more than 20 frames arrive in a 10 ms window, each
 *   read first waits a millisecond (a libuv timer, the event loop stays free) so that one read
 *   takes a millisecond's frames. Immediate mode alone costs a wake-up per packet; TPACKET_V3
 *   with a 1 ms block timeout costs less under a flood but delivers a lone packet only when the
 *   kernel retires its block (0.5 ms median, 1.7–2.9 ms after an idle spell).
 * - `snapLength` 256: every header we decode (link 14 + 2 VLAN tags 8 + IPv6 40 + extension
 *   headers + TCP 20) in the common case; a longer IPv6 extension chain is counted as
 *   "truncated". Small frames keep more of them in the ring.
 * - `bufferBytes` 8 MiB: ~70 000 small probes, about half a second of a 160 kpps flood while
 *   the daemon is busy or descheduled. The kernel allocates the whole ring at once, so it is
 *   resident from the start (one per capture: 16 MiB of RSS for two). Measured with
 *   bench/flood-daemon (~147 kpps, 3 runs): 0 kernel drops at 8 MiB, 0.6–0.9 % dropped at 4.
 * - promiscuous off: only what this host's interface accepts (its MAC, broadcast, multicast).
 */

import type { InterfaceStats } from "./capture-plan.js";
import { loadNativeAddon } from "./native-addon.js";

/**
 * One captured frame: `frame` starts at the frame's first byte and is valid only during the
 * call; only its first `capturedLength` bytes are the frame. `timestampUs` is the kernel's.
 */
export type FrameHandler = (
  frame: Uint8Array,
  capturedLength: number,
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
  /** Frames handed over per call (default 512); each slot holds up to `snapLength` bytes. */
  readonly slotsPerBatch?: number;
  /** After each read's frames: the place to hand over what they produced. */
  readonly onBatchEnd?: () => void;
  /** A read failed (the interface went away): the capture delivers nothing more. */
  readonly onFailure?: (error: string) => void;
}

export const DEFAULT_CAPTURE_OPTIONS: Omit<LiveCaptureOptions, "filter"> = {
  snapLength: 256,
  bufferBytes: 8 << 20,
  bufferTimeoutMs: 0,
  holdUnderLoadMs: 1,
};

/** Frames per read: each read is one call into JS. */
const DEFAULT_SLOTS_PER_BATCH = 512;
/** Per slot, before the frame: u32 captured length, u32 wire length, f64 time in µs. */
const SLOT_HEADER_BYTES = 16;

declare const captureHandleBrand: unique symbol;
type CaptureHandle = { readonly [captureHandleBrand]: true };

interface LiveCaptureAddon {
  open(
    device: string,
    filter: string,
    snapLength: number,
    bufferBytes: number,
    timeoutMs: number,
  ): { handle: CaptureHandle; linkType: number };
  start(
    handle: CaptureHandle,
    buffer: Uint8Array,
    slotBytes: number,
    onBatch: (count: number) => void,
    onError: (message: string) => void,
    holdUnderLoadMs: number,
  ): void;
  drain(handle: CaptureHandle): void;
  stats(handle: CaptureHandle): { received: number; dropped: number; ifDropped: number } | undefined;
  close(handle: CaptureHandle): void;
}

let addon: LiveCaptureAddon | undefined;

function loadAddon(): LiveCaptureAddon {
  addon ??= loadNativeAddon<LiveCaptureAddon>("live_capture", ["open", "start", "drain", "stats", "close"]);
  return addon;
}

export type OpenCaptureResult =
  | { readonly ok: true; readonly capture: LiveCapture }
  | { readonly ok: false; readonly error: string; readonly permission: boolean };

/** Turns libpcap's open error into a message; says which capability is missing. */
function describeOpenError(
  iface: string,
  code: string | undefined,
  message: string,
): { error: string; permission: boolean } {
  if (code === "EPERM" || /permission|not permitted/i.test(message)) {
    return { error: `${message} (needs CAP_NET_RAW)`, permission: true };
  }
  if (code === "ENODEV" || /no such device|doesn't exist|not exist/i.test(message)) {
    return { error: `interface ${iface} does not exist (${message})`, permission: false };
  }
  return { error: message, permission: false };
}

export function openLiveCapture(
  iface: string,
  options: LiveCaptureOptions,
  onFrame: FrameHandler,
): OpenCaptureResult {
  let native: LiveCaptureAddon;
  try {
    native = loadAddon();
  } catch (err) {
    return { ok: false, error: (err as Error).message, permission: false };
  }
  let opened: { handle: CaptureHandle; linkType: number };
  try {
    opened = native.open(
      iface,
      options.filter,
      options.snapLength,
      options.bufferBytes,
      options.bufferTimeoutMs,
    );
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, ...describeOpenError(iface, e.code, e.message) };
  }
  try {
    return {
      ok: true,
      capture: new LiveCapture(iface, native, opened.handle, opened.linkType, options, onFrame),
    };
  } catch (err) {
    return { ok: false, error: `${iface}: ${(err as Error).message}`, permission: false };
  }
}

/**
 * The batch buffer the addon fills (layout in native/live_capture.c), with one view per slot
 * made once: no allocation per frame.
 */
export class BatchSlots {
  readonly slotBytes: number;
  readonly bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #times: Float64Array;
  readonly #frames: Uint8Array[] = [];

  constructor(snapLength: number, slots: number) {
    this.slotBytes = (SLOT_HEADER_BYTES + snapLength + 7) & ~7;
    const buffer = new ArrayBuffer(this.slotBytes * slots);
    this.bytes = new Uint8Array(buffer);
    this.#words = new Uint32Array(buffer);
    this.#times = new Float64Array(buffer);
    for (let i = 0; i < slots; i++) {
      this.#frames.push(
        new Uint8Array(buffer, i * this.slotBytes + SLOT_HEADER_BYTES, this.slotBytes - SLOT_HEADER_BYTES),
      );
    }
  }

  /** Puts a frame in slot `i` as the addon would (warm-up and tests). */
  write(i: number, frame: Uint8Array, timestampUs: number): void {
    const at = i * this.slotBytes;
    const captured = Math.min(frame.length, this.slotBytes - SLOT_HEADER_BYTES);
    this.#words[at >> 2] = captured;
    this.#words[(at >> 2) + 1] = frame.length;
    this.#times[(at + 8) >> 3] = timestampUs;
    this.#frames[i]!.set(frame.subarray(0, captured));
  }

  /** Hands slots 0..count-1 to `onFrame`, then calls `onBatchEnd`; returns how many threw. */
  deliver(
    count: number,
    linkType: number,
    onFrame: FrameHandler,
    onBatchEnd: (() => void) | undefined,
  ): number {
    let errors = 0;
    const words = this.#words;
    for (let i = 0; i < count; i++) {
      const at = i * this.slotBytes;
      try {
        onFrame(
          this.#frames[i]!,
          words[at >> 2]!,
          linkType,
          words[(at >> 2) + 1]!,
          this.#times[(at + 8) >> 3]!,
        );
      } catch {
        errors++;
      }
    }
    try {
      onBatchEnd?.();
    } catch {
      errors++;
    }
    return errors;
  }
}

export class LiveCapture {
  readonly iface: string;
  readonly linkType: number;
  /** Frames whose handler threw (a bug): counted, never allowed to stop the capture. */
  handlerErrors = 0;
  readonly #native: LiveCaptureAddon;
  readonly #handle: CaptureHandle;
  #closed = false;

  constructor(
    iface: string,
    native: LiveCaptureAddon,
    handle: CaptureHandle,
    linkType: number,
    options: LiveCaptureOptions,
    onFrame: FrameHandler,
  ) {
    this.iface = iface;
    this.linkType = linkType;
    this.#native = native;
    this.#handle = handle;
    const slots = new BatchSlots(options.snapLength, options.slotsPerBatch ?? DEFAULT_SLOTS_PER_BATCH);
    const onBatchEnd = options.onBatchEnd;
    const onBatch = (count: number): void => {
      this.handlerErrors += slots.deliver(count, linkType, onFrame, onBatchEnd);
    };
    const onError = (message: string): void => options.onFailure?.(`${iface}: ${message}`);
    try {
      native.start(handle, slots.bytes, slots.slotBytes, onBatch, onError, options.holdUnderLoadMs ?? 0);
    } catch (err) {
      native.close(handle);
      throw err;
    }
  }

  /** Kernel counters; undefined once closed. */
  stats(): InterfaceStats | undefined {
    if (this.#closed) return undefined;
    const s = this.#native.stats(this.#handle);
    return s && { name: this.iface, received: s.received, dropped: s.dropped, ifDropped: s.ifDropped };
  }

  /** Delivers what the ring holds now, before returning. */
  drain(): void {
    if (!this.#closed) this.#native.drain(this.#handle);
  }

  /**
   * Stops delivery and releases the socket and its ring at once. Idempotent. Frames still in
   * the ring are lost: `drain()` first to have them.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close(this.#handle);
  }
}
