/**
 * The one-line summary systemd shows under `systemctl status` (STATUS=): modes, blocked hosts,
 * probes in the last minute. The per-minute figure comes from samples of the pipeline's hit
 * counter, so the packet path is not touched.
 */

import type { ServiceNotifier } from "./sd-notify.js";

export interface StatusFigures {
  readonly modes: readonly string[];
  readonly blockedHosts: number;
  /** The pipeline's hit counter (monotonic). */
  readonly hits: number;
}

/** How often STATUS= is refreshed; systemctl status is read by people, not scrapers. */
export const STATUS_INTERVAL_MS = 10_000;
const MINUTE_MS = 60_000;

/** Hits over the last minute from counter samples; bounded (one sample per refresh). Pure. */
export class MinuteWindow {
  readonly #samples: { atMs: number; hits: number }[] = [];

  /** Records a sample and returns the hits since the oldest sample within the last minute. */
  add(nowMs: number, hits: number): number {
    this.#samples.push({ atMs: nowMs, hits });
    // Keep the newest sample at or before a minute ago as the base, drop older ones.
    while (this.#samples.length > 1 && (this.#samples[1]?.atMs ?? nowMs) <= nowMs - MINUTE_MS) {
      this.#samples.shift();
    }
    return hits - (this.#samples[0]?.hits ?? hits);
  }
}

export function statusLine(f: StatusFigures, probesLastMinute: number): string {
  const hosts = f.blockedHosts === 1 ? "1 host blocked" : `${f.blockedHosts} hosts blocked`;
  const probes = probesLastMinute === 1 ? "1 probe" : `${probesLastMinute} probes`;
  return `armed: ${f.modes.join(" ")}; ${hosts}; ${probes} in the last minute`;
}

/** Sends READY=1 with the first summary, then refreshes it; returns the function that stops it. */
export function reportReady(
  notifier: ServiceNotifier,
  figures: () => StatusFigures,
  monoClockMs: () => number,
): () => void {
  if (!notifier.active) return () => {};
  const window = new MinuteWindow();
  const line = (): string => {
    const f = figures();
    return statusLine(f, window.add(monoClockMs(), f.hits));
  };
  notifier.ready(line());
  const timer = setInterval(() => notifier.status(line()), STATUS_INTERVAL_MS).unref();
  return () => clearInterval(timer);
}
