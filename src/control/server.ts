/**
 * The daemon's end of the control socket (spec §1): answers the commands of CONTROL_COMMANDS
 * through a ControlHandler that the daemon provides. Who may talk, and how the socket file is
 * made so that nobody else can, is socket-file.ts; what a client may send and how the daemon
 * is kept safe from it, connections.ts; the handler's side of each command, dispatch.ts.
 */

import { createServer, type Server } from "node:net";
import type { Log } from "../log/logger.js";
import { type ConnectionLimits, ConnectionSet, type ControlServerStats } from "./connections.js";
import type { ControlHandler } from "./dispatch.js";
import {
  bindPrivately,
  checkSocketPath,
  closeServer,
  removeIfOurs,
  type SocketIdentity,
} from "./socket-file.js";

export interface ControlServerOptions extends ConnectionLimits {
  /** How long the start-up check waits for an existing socket to answer. */
  readonly probeTimeoutMs?: number;
}

export interface ControlServer {
  readonly socketPath: string;
  stats(): ControlServerStats;
  /** Stops accepting, closes every connection, removes the socket file (if still ours). */
  close(): Promise<void>;
}

export type ControlServerStart =
  | { readonly ok: true; readonly server: ControlServer }
  | { readonly ok: false; readonly message: string };

export async function startControlServer(
  socketPath: string,
  handler: ControlHandler,
  log?: Log,
  options: ControlServerOptions = {},
): Promise<ControlServerStart> {
  // 1-3. The path fits, its directory is safe, and no live daemon holds it (socket-file.ts).
  const problem = await checkSocketPath(socketPath, options.probeTimeoutMs ?? 1000, log);
  if (problem !== undefined) return { ok: false, message: problem };

  // 4. Bind in a private directory, chmod, link into place.
  const connections = new ConnectionSet(handler, log, options);
  const server = createServer({ allowHalfOpen: false }, (socket) => connections.accept(socket));
  try {
    const placed = await bindPrivately(server, socketPath, log);
    return { ok: true, server: new RunningServer(socketPath, server, connections, placed) };
  } catch (err) {
    await closeServer(server);
    return { ok: false, message: (err as Error).message };
  }
}

class RunningServer implements ControlServer {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #connections: ConnectionSet;
  readonly #placed: SocketIdentity;
  #closing: Promise<void> | undefined;

  constructor(socketPath: string, server: Server, connections: ConnectionSet, placed: SocketIdentity) {
    this.socketPath = socketPath;
    this.#server = server;
    this.#connections = connections;
    this.#placed = placed;
  }

  stats(): ControlServerStats {
    return this.#connections.stats();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = closeServer(this.#server);
      this.#connections.closeAll();
      await closed;
      await removeIfOurs(this.socketPath, this.#placed);
    })();
    return this.#closing;
  }
}
