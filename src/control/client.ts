/**
 * The CLI's end of the control socket: one request, one validated response, clear errors.
 */

import { createConnection } from "node:net";
import {
  CLIENT_TIMEOUT_MS,
  type ControlCommandName,
  type ControlError,
  MAX_RESPONSE_BYTES,
  MAX_SOCKET_PATH_BYTES,
  requestLine,
} from "./protocol.js";
import { type ControlResults, parseResponse } from "./responses.js";

export type RequestOutcome<T> =
  | { readonly ok: true; readonly id: number; readonly result: T }
  | { readonly ok: false; readonly error: ControlError };

let lastId = 0;

/**
 * Sends `cmd` with `args` to the daemon listening on `socketPath` and waits at most `timeoutMs`
 * for its answer. Never rejects: every failure is an outcome with a code and a message for people.
 */
export function request<C extends ControlCommandName>(
  socketPath: string,
  cmd: C,
  args: readonly string[],
  timeoutMs: number = CLIENT_TIMEOUT_MS,
): Promise<RequestOutcome<ControlResults[C]>> {
  type Outcome = RequestOutcome<ControlResults[C]>;
  lastId = (lastId + 1) % Number.MAX_SAFE_INTEGER;
  const id = lastId;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    return Promise.resolve({
      ok: false,
      error: { code: "connect-failed", message: `control socket path ${socketPath} is too long` },
    });
  }
  return new Promise<Outcome>((resolve) => {
    const socket = createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const failWith = (code: string, message: string) => finish({ ok: false, error: { code, message } });
    const timer = setTimeout(
      () => failWith("timeout", `portsentry did not answer within ${Math.ceil(timeoutMs / 1000)} s`),
      timeoutMs,
    );

    socket.on("connect", () => socket.write(requestLine(id, cmd, args)));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const e = connectError(err.code, err.message, socketPath);
      failWith(e.code, e.message);
    });
    socket.on("data", (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      const take = newline < 0 ? chunk : chunk.subarray(0, newline);
      received += take.length;
      if (received > MAX_RESPONSE_BYTES) {
        failWith("bad-response", `the daemon's answer is longer than ${MAX_RESPONSE_BYTES} bytes`);
        return;
      }
      chunks.push(take);
      if (newline < 0) return;
      const parsed = parseResponse(Buffer.concat(chunks).toString("utf8"), id, cmd);
      finish(parsed.ok ? { ok: true, id, result: parsed.result } : parsed);
    });
    socket.on("close", () =>
      failWith("connection-closed", "portsentry closed the control connection without answering"),
    );
  });
}

/** A connection failure in words an operator can act on. */
export function connectError(code: string | undefined, detail: string, socketPath: string): ControlError {
  switch (code) {
    case "ENOENT":
      return { code: "not-running", message: `portsentry is not running (no socket at ${socketPath})` };
    case "ECONNREFUSED":
      return {
        code: "not-running",
        message: `portsentry is not running (nobody listens on ${socketPath}; a stale socket)`,
      };
    case "EACCES":
    case "EPERM":
      return { code: "permission-denied", message: `permission denied: run as root (${socketPath})` };
    case "ENOTDIR":
      return { code: "not-running", message: `portsentry is not running (${socketPath} is not reachable)` };
    default:
      return { code: "connect-failed", message: `cannot reach portsentry at ${socketPath}: ${detail}` };
  }
}
