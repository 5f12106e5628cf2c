/**
 * The systemd notification protocol (sd_notify(3)) for `Type=notify`: READY=1 once armed,
 * STATUS= lines, RELOADING=1/READY=1 around SIGHUP, STOPPING=1, and WATCHDOG=1 pings from the
 * event loop at half of WATCHDOG_USEC (a hung loop stops pinging and systemd restarts us).
 * Without NOTIFY_SOCKET every call does nothing. Datagrams go through `unix-dgram` (node has no
 * AF_UNIX datagram sockets); it cannot address abstract sockets (`@name`), so such a
 * NOTIFY_SOCKET is reported once and ignored (systemd itself uses /run/systemd/notify).
 */

import { createRequire } from "node:module";
import * as msg from "../log/messages.js";

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, done: (err?: Error) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: "unix_dgram"): DgramSocket;
}

export interface ServiceNotifier {
  /** True when a service manager listens (NOTIFY_SOCKET was usable). */
  readonly active: boolean;
  /** Every sensor and the kernel trap are armed. */
  ready(status?: string): void;
  status(line: string): void;
  /** SIGHUP: a reload starts; call ready() when it is done. */
  reloading(): void;
  stopping(): void;
  /** Stops the watchdog and closes the socket. */
  close(): void;
}

export interface NotifyEnvironment {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

/** The watchdog interval systemd asks for, or undefined (unset, not for us, or not a number). */
export function watchdogIntervalMs(env: NotifyEnvironment, pid: number): number | undefined {
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (env.WATCHDOG_USEC === undefined || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  // sd_watchdog_enabled(3): ping at half the interval; never faster than every 10 ms.
  return Math.max(10, Math.floor(usec / 2000));
}

/** CLOCK_MONOTONIC in microseconds, as systemd ≥ 253 wants with RELOADING=1 (node's hrtime). */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

const NONE: ServiceNotifier = {
  active: false,
  ready: () => {},
  status: () => {},
  reloading: () => {},
  stopping: () => {},
  close: () => {},
};

/**
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes them from the environment,
 * so that the commands the daemon runs (nft, KILL_RUN_CMD) do not speak for it.
 */
export function openServiceNotifier(
  warn: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): ServiceNotifier {
  const path = env.NOTIFY_SOCKET;
  const watchdogMs = watchdogIntervalMs(env, process.pid);
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (path === undefined || path === "") return NONE;
  if (!path.startsWith("/")) {
    warn(msg.notifySocketUnsupported(path));
    return NONE;
  }
  let socket: DgramSocket;
  try {
    socket = (createRequire(import.meta.url)("unix-dgram") as UnixDgram).createSocket("unix_dgram");
  } catch (err) {
    warn(msg.notifyFailed(path, (err as Error).message));
    return NONE;
  }
  let failed = false;
  const onError = (err: Error | undefined): void => {
    if (err === undefined || failed) return;
    failed = true; // said once: a manager that went away is not worth a line per ping
    warn(msg.notifyFailed(path, err.message));
  };
  socket.on("error", onError);
  let closed = false;
  const send = (text: string): void => {
    if (closed) return;
    const buf = Buffer.from(text);
    try {
      socket.send(buf, 0, buf.length, path, onError);
    } catch (err) {
      onError(err as Error);
    }
  };
  const watchdog =
    watchdogMs === undefined
      ? undefined
      : // unref: the watchdog alone never keeps the process alive.
        setInterval(() => send("WATCHDOG=1"), watchdogMs).unref();
  return {
    active: true,
    ready: (status) => send(status === undefined ? "READY=1" : `READY=1\nSTATUS=${oneLine(status)}`),
    status: (line) => send(`STATUS=${oneLine(line)}`),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    stopping: () => send("STOPPING=1"),
    close: () => {
      if (closed) return;
      clearInterval(watchdog);
      closed = true;
      socket.close();
    },
  };
}

/** A STATUS= value is one line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}
