/**
 * A monitor command whose every output line says "something changed" (`ip monitor`, `nft
 * monitor`): the owner re-checks on the change instead of on a timer (#17: nothing to do,
 * nothing done). A burst of lines is one change. When the command cannot start or ends, `live`
 * turns false and one last change is reported, so the owner re-checks and falls back to its timer.
 */

import { type ChildProcess, spawn } from "node:child_process";

/** What follows changes: whether it is live, and a listener for them. */
export interface ChangeWatch {
  readonly live: boolean;
  onChange(listener: () => void): void;
}

/**
 * Runs `act` on every change `watch` reports, and every `fallbackMs` while the watch is not live
 * (never started, or its command ended). Returns the function that stops the fallback timer.
 */
export function followChanges(watch: ChangeWatch, fallbackMs: number, act: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fallBack = (): void => {
    if (watch.live || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      // Armed before the watch's command had started: once it has, its changes say when.
      if (watch.live) return;
      act();
      fallBack();
    }, fallbackMs);
  };
  watch.onChange(() => {
    act();
    fallBack();
  });
  fallBack();
  return () => clearTimeout(timer);
}

export class CommandFeed implements ChangeWatch {
  readonly #listeners: Array<() => void> = [];
  readonly #coalesceMs: number;
  #child: ChildProcess | undefined;
  #pending: NodeJS.Timeout | undefined;
  #live = false;
  #closed = false;

  constructor(argv: readonly string[], coalesceMs: number) {
    this.#coalesceMs = coalesceMs;
    const [file, ...args] = argv;
    if (file === undefined) return;
    try {
      const child = spawn(file, args, { stdio: ["ignore", "pipe", "ignore"] });
      child.once("spawn", () => {
        this.#live = !this.#closed;
      });
      child.once("error", () => this.#lost());
      child.once("exit", () => this.#lost());
      child.stdout?.on("data", () => this.changed());
      this.#child = child;
    } catch {
      this.#live = false;
    }
  }

  /** True while changes are followed. */
  get live(): boolean {
    return this.#live;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Reports a change (also for the owner's other sources, coalesced with the command's). */
  changed(): void {
    if (this.#pending !== undefined || this.#closed) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      for (const l of this.#listeners) l();
    }, this.#coalesceMs);
    this.#pending.unref();
  }

  close(): void {
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#pending);
    this.#child?.kill();
  }

  #lost(): void {
    const wasLive = this.#live;
    this.#live = false;
    if (wasLive) this.changed();
  }
}
