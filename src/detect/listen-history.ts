/**
 * When each local port was last seen with a listener, per protocol: a port that was a service
 * a moment ago is not a trap at once (LISTEN_GRACE, issue #14). A client connecting while the
 * service restarts, or retransmitting its SYN to a service that just stopped, meets a closed
 * port that is no scanner's trap.
 *
 * Pure. Ports are bounded (65 536), so one Float64Array per protocol (512 KiB each) holds every
 * port's time; nothing here is keyed by an attacker's value.
 */

import type { PortBitmap } from "../vocabulary.js";

export type ListenProtocol = "tcp" | "udp";

export class ListenHistory {
  readonly #lastMs: Record<ListenProtocol, Float64Array> = {
    tcp: new Float64Array(65_536).fill(Number.NEGATIVE_INFINITY),
    udp: new Float64Array(65_536).fill(Number.NEGATIVE_INFINITY),
  };

  /** `listening` (1 = a listener) was read at `nowMs`. */
  noteSnapshot(proto: ListenProtocol, listening: PortBitmap, nowMs: number): void {
    const last = this.#lastMs[proto];
    for (let port = 0; port < 65_536; port++) if (listening[port] === 1) last[port] = nowMs;
  }

  /** One port was seen with a listener at `nowMs` (replay: the host answered SYN+ACK from it). */
  notePort(proto: ListenProtocol, port: number, nowMs: number): void {
    const last = this.#lastMs[proto];
    if (port >= 0 && port < 65_536 && nowMs > last[port]!) last[port] = nowMs;
  }

  /** The port had a listener within `graceMs` before `nowMs` (0: never). */
  listenedWithin(proto: ListenProtocol, port: number, graceMs: number, nowMs: number): boolean {
    if (graceMs <= 0) return false;
    const last = this.#lastMs[proto][port];
    return last !== undefined && nowMs - last <= graceMs;
  }
}
