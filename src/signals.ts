/**
 * SIGHUP, SIGTERM and SIGINT from the first line of start-up. Node's default for each is to
 * die at once; the daemon's own handlers exist only once it is armed, and a `systemctl
 * reload` (or a logrotate hook) right after a restart would otherwise kill it silently (systemd
 * does not count death by SIGHUP as a failure). Until the daemon takes over, a stop is
 * remembered (start-up checks it between steps, rolls back and exits 0) and a reload is
 * remembered (applied once, when the daemon is armed).
 */

export type DaemonSignal = "SIGHUP" | "SIGTERM" | "SIGINT";

const SIGNALS: readonly DaemonSignal[] = ["SIGHUP", "SIGTERM", "SIGINT"];

export class SignalInbox {
  #stop: DaemonSignal | undefined;
  #reload = false;
  #listener: ((signal: DaemonSignal) => void) | undefined;
  readonly #onSignal = (signal: DaemonSignal): void => {
    if (this.#listener !== undefined) this.#listener(signal);
    else if (signal === "SIGHUP") this.#reload = true;
    else this.#stop ??= signal;
  };

  constructor() {
    for (const s of SIGNALS) process.on(s, this.#onSignal);
  }

  /** The stop signal that arrived before the daemon took over, if any. */
  get stopRequested(): DaemonSignal | undefined {
    return this.#stop;
  }

  /** From now on every signal goes to `listener`; what arrived meanwhile is delivered first. */
  deliver(listener: (signal: DaemonSignal) => void): void {
    this.#listener = listener;
    if (this.#stop !== undefined) listener(this.#stop);
    else if (this.#reload) listener("SIGHUP");
    this.#stop = undefined;
    this.#reload = false;
  }

  /** Gives the signals back to their defaults (a second SIGTERM during a hung stop kills). */
  close(): void {
    this.#listener = undefined;
    for (const s of SIGNALS) process.off(s, this.#onSignal);
  }
}
