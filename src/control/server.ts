/**
 * The daemon's end of the control socket (spec §1): answers the commands of CONTROL_COMMANDS
 * through a ControlHandler that the daemon provides.
 *
 * Who may talk. Node cannot read SO_PEERCRED, so the guard is the file system: the socket is
 * mode 0600, owned by the daemon's user, in a directory that only root or that user may write.
 * connect() on a Unix socket needs write permission on the file, so only that user and root
 * (CAP_DAC_OVERRIDE) get through. The socket is bound inside a fresh 0700 directory, chmod'ed
 * to 0600 there, and only then hard-linked into place: whatever the umask, there is no moment
 * at which another user can reach it. link() fails if the name exists, so a socket that
 * appeared meanwhile is never replaced.
 *
 * A hostile local client (root or the daemon's user, or a bug) must not hurt the daemon: lines
 * are capped, connections are bounded, a connection that sends no complete request in time is
 * closed, a client that does not read its answers is closed, a handler that hangs is answered
 * with `timeout`, and nothing a client sends can throw out of here.
 */

import { chmod, link, lstat, mkdtemp, rm, stat, unlink } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { Log } from "../log/logger.js";
import { formatMetrics } from "./metrics.js";
import {
  type ControlCommandName,
  controlCommand,
  EVICT_IDLE_AFTER_MS,
  HANDLER_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_REQUEST_BYTES,
  MAX_SOCKET_PATH_BYTES,
  parseRequest,
} from "./protocol.js";
import {
  type AddressResult,
  type BlockedEntry,
  type ControlResult,
  type ControlResults,
  errorLine,
  okLine,
  type StatusReport,
} from "./responses.js";

/** What the daemon offers the control channel. Addresses arrive validated and canonical. */
export interface ControlHandler {
  status(): StatusReport;
  blocked(): readonly BlockedEntry[];
  unblock(address: string): Promise<ControlResult>;
  block(address: string): Promise<ControlResult>;
}

export interface ControlServerOptions {
  readonly maxConnections?: number;
  readonly idleTimeoutMs?: number;
  /** Idle time after which a connection yields its slot to a new one (all slots taken). */
  readonly evictIdleAfterMs?: number;
  readonly handlerTimeoutMs?: number;
  readonly maxRequestBytes?: number;
  /** How long the start-up check waits for an existing socket to answer. */
  readonly probeTimeoutMs?: number;
}

export interface ControlServerStats {
  /** Connections open now. */
  readonly connections: number;
  readonly accepted: number;
  /** Connections refused because MAX_CONNECTIONS were open. */
  readonly rejected: number;
  readonly badRequests: number;
  /**
   * Connections closed for idleness (the idle timeout, or a slot given up to a new connection),
   * and requests whose handler timed out.
   */
  readonly timeouts: number;
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

/** The dispatch half of the command table: the mapped type makes a missing command a compile error. */
const DISPATCH: {
  readonly [C in ControlCommandName]: (
    h: ControlHandler,
    args: readonly string[],
  ) => ControlResults[C] | Promise<ControlResults[C]>;
} = {
  status: (h) => h.status(),
  blocked: (h) => h.blocked().map(blockedEntry),
  unblock: (h, args) => eachAddress(args, (a) => h.unblock(a)),
  block: (h, args) => eachAddress(args, (a) => h.block(a)),
  metrics: (h) => formatMetrics(h.status()),
};

/** Only the documented fields go out (a BlockRecord carries more). */
function blockedEntry(e: BlockedEntry): BlockedEntry {
  return { address: e.address, mode: e.mode, port: e.port, sinceMs: e.sinceMs, expiresAtMs: e.expiresAtMs };
}

/** One address after the other: responders (nft, hosts.deny) are not made to race themselves. */
async function eachAddress(
  addresses: readonly string[],
  act: (address: string) => Promise<ControlResult>,
): Promise<AddressResult[]> {
  const out: AddressResult[] = [];
  for (const address of addresses) {
    let r: ControlResult;
    try {
      r = await act(address);
    } catch (err) {
      r = { ok: false, code: "failed", message: `internal error: ${(err as Error).message}` };
    }
    out.push(
      r.ok
        ? { address, ok: true, changed: r.changed, message: r.message }
        : { address, ok: false, code: r.code, message: r.message },
    );
  }
  return out;
}

export async function startControlServer(
  socketPath: string,
  handler: ControlHandler,
  log?: Log,
  options: ControlServerOptions = {},
): Promise<ControlServerStart> {
  const fail = (message: string): ControlServerStart => ({ ok: false, message });
  const dir = dirname(socketPath);

  // 1. The path must fit in sockaddr_un, also the temporary one ("<dir>/.ctl-XXXXXX/s").
  const longest = Math.max(Buffer.byteLength(socketPath), Buffer.byteLength(dir) + 14);
  if (longest > MAX_SOCKET_PATH_BYTES) {
    return fail(`control socket path ${socketPath} is too long for a Unix socket; use a shorter STATE_DIR`);
  }

  // 2. The directory must be one that only root or we can write.
  const dirProblem = await checkDirectory(dir);
  if (dirProblem !== undefined) return fail(dirProblem);

  // 3. An existing socket: a live daemon's is never taken; a crashed one's is removed.
  const claim = await clearStaleSocket(socketPath, options.probeTimeoutMs ?? 1000, log);
  if (claim !== undefined) return fail(claim);

  // 4. Bind in a private directory, chmod, link into place.
  const ctx = new ServerContext(handler, log, options);
  const server = createServer({ allowHalfOpen: false }, (socket) => ctx.accept(socket));
  let tmpDir: string | undefined;
  try {
    tmpDir = await mkdtemp(join(dir, ".ctl-"));
    const tmpSocket = join(tmpDir, "s");
    await listen(server, tmpSocket);
    // From now on an error (say EMFILE on accept) is logged; unhandled it would end the daemon.
    server.on("error", (err: Error) => log?.error(`adminalert: ERROR: control socket: ${err.message}`));
    await chmod(tmpSocket, 0o600);
    try {
      await link(tmpSocket, socketPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        code === "EEXIST"
          ? `${socketPath} appeared while starting: another portsentry is starting; stop it first`
          : `cannot create ${socketPath}: ${(err as Error).message}`,
      );
    }
    const placed = await lstat(socketPath);
    return { ok: true, server: new RunningServer(socketPath, server, ctx, placed.dev, placed.ino) };
  } catch (err) {
    await closeServer(server);
    return fail((err as Error).message);
  } finally {
    // The temporary name goes in every case; the socket lives on under its real name.
    if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  }
}

class RunningServer implements ControlServer {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #ctx: ServerContext;
  readonly #dev: number;
  readonly #ino: number;
  #closing: Promise<void> | undefined;

  constructor(socketPath: string, server: Server, ctx: ServerContext, dev: number, ino: number) {
    this.socketPath = socketPath;
    this.#server = server;
    this.#ctx = ctx;
    this.#dev = dev;
    this.#ino = ino;
  }

  stats(): ControlServerStats {
    return this.#ctx.stats();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = closeServer(this.#server);
      this.#ctx.closeAll();
      await closed;
      // Remove the name only if it is still our socket (never another daemon's).
      const st = await lstat(this.socketPath).catch(() => undefined);
      if (st !== undefined && st.dev === this.#dev && st.ino === this.#ino) {
        await unlink(this.socketPath).catch(() => {});
      }
    })();
    return this.#closing;
  }
}

/** State shared by the connections of one server. */
class ServerContext {
  readonly #handler: ControlHandler;
  readonly #log: Log | undefined;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly evictIdleAfterMs: number;
  readonly handlerTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly #open = new Set<Connection>();
  #accepted = 0;
  #rejected = 0;
  #badRequests = 0;
  #timeouts = 0;

  constructor(handler: ControlHandler, log: Log | undefined, o: ControlServerOptions) {
    this.#handler = handler;
    this.#log = log;
    this.maxConnections = o.maxConnections ?? MAX_CONNECTIONS;
    this.idleTimeoutMs = o.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.evictIdleAfterMs = o.evictIdleAfterMs ?? EVICT_IDLE_AFTER_MS;
    this.handlerTimeoutMs = o.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS;
    this.maxRequestBytes = o.maxRequestBytes ?? MAX_REQUEST_BYTES;
  }

  stats(): ControlServerStats {
    return {
      connections: this.#open.size,
      accepted: this.#accepted,
      rejected: this.#rejected,
      badRequests: this.#badRequests,
      timeouts: this.#timeouts,
    };
  }

  accept(socket: Socket): void {
    socket.on("error", () => {}); // a peer that resets is normal; 'close' follows
    if (this.#open.size >= this.maxConnections) this.#evictIdlest();
    if (this.#open.size >= this.maxConnections) {
      this.#rejected++;
      const line = errorLine(
        null,
        "busy",
        `too many control connections (${this.maxConnections}); try again`,
      );
      socket.setTimeout(1000, () => socket.destroy());
      socket.end(line, () => socket.destroy());
      return;
    }
    this.#accepted++;
    const conn = new Connection(socket, this);
    this.#open.add(conn);
    socket.on("close", () => this.#open.delete(conn));
  }

  /**
   * Frees the slot of the connection waiting longest for a request, if it has waited at least
   * `evictIdleAfterMs`: one that is being answered is never the one. A burst of new clients
   * (all idle for an instant) still meets `busy`.
   */
  #evictIdlest(): void {
    const now = performance.now();
    let victim: Connection | undefined;
    for (const c of this.#open) {
      const since = c.idleSinceMs;
      if (since === undefined || now - since < this.evictIdleAfterMs) continue;
      if (victim === undefined || since < (victim.idleSinceMs ?? since)) victim = c;
    }
    if (victim === undefined) return;
    this.#open.delete(victim);
    this.#timeouts++;
    victim.giveUpSlot();
  }

  closeAll(): void {
    for (const c of this.#open) c.destroy();
  }

  countIdleTimeout(): void {
    this.#timeouts++;
  }

  /** State changes made over the socket are logged, one line an address (the handler need not). */
  #audit(cmd: ControlCommandName, result: unknown): void {
    if (!isAddressResults(result)) return;
    for (const r of result) {
      const outcome = r.ok ? r.message : `refused (${r.code}): ${r.message}`;
      this.#log?.notice(`adminalert: control request: ${cmd} ${r.address}: ${outcome}`);
    }
  }

  /** One request line → one response line. Never rejects. */
  async answer(line: Buffer): Promise<string> {
    let text: string;
    try {
      text = utf8.decode(line);
    } catch {
      this.#badRequests++;
      return errorLine(null, "bad-json", "the request is not valid UTF-8");
    }
    const parsed = parseRequest(text);
    if (!parsed.ok) {
      this.#badRequests++;
      return errorLine(parsed.id, parsed.error.code, parsed.error.message);
    }
    const { id, cmd, args } = parsed.request;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.handlerTimeoutMs);
    });
    try {
      const work = Promise.resolve().then(() => DISPATCH[cmd](this.#handler, args));
      work.catch(() => {}); // a late failure after a timeout is not unhandled
      const result = await Promise.race([work, timedOut]);
      if (result === TIMED_OUT) {
        this.#timeouts++;
        this.#log?.warn(
          `adminalert: control command ${cmd} did not finish within ${this.handlerTimeoutMs} ms`,
        );
        return errorLine(id, "timeout", `${cmd} did not finish in time; it may still complete`);
      }
      if (controlCommand(cmd)?.mutates === true) this.#audit(cmd, result);
      return okLine(id, result);
    } catch (err) {
      this.#log?.error(`adminalert: ERROR: control command ${cmd} failed: ${(err as Error).message}`);
      return errorLine(id, "internal", `${cmd} failed inside the daemon; see its log`);
    } finally {
      clearTimeout(timer);
    }
  }
}

const TIMED_OUT = Symbol("timed out");

/** Narrows a mutating command's result for the audit line. */
function isAddressResults(v: unknown): v is readonly AddressResult[] {
  return Array.isArray(v);
}
const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY = Buffer.alloc(0);

/**
 * One client. Requests are answered one at a time, in order; reading pauses while a request is
 * handled and while the client does not read its answers, so buffered input stays below one
 * line plus one read.
 */
class Connection {
  readonly #socket: Socket;
  readonly #ctx: ServerContext;
  #pending: Buffer = EMPTY;
  #busy = false;
  #closing = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** When the idle clock started (performance.now()); undefined while a request is handled. */
  idleSinceMs: number | undefined;

  constructor(socket: Socket, ctx: ServerContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    socket.on("data", (chunk: Buffer) => {
      if (this.#closing) return;
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      this.#next();
    });
    socket.on("close", () => this.#clearIdle());
    this.#armIdle();
  }

  destroy(): void {
    this.#clearIdle();
    this.#socket.destroy();
  }

  /** Closed to make room for a new connection while it waited for a request. */
  giveUpSlot(): void {
    this.#closeWith(errorLine(null, "timeout", "closed: idle while every control connection was taken"));
  }

  #next(): void {
    while (!this.#busy && !this.#closing && !this.#socket.destroyed) {
      const newline = this.#pending.indexOf(0x0a);
      const max = this.#ctx.maxRequestBytes;
      if (newline < 0 ? this.#pending.length > max : newline > max) {
        this.#closeWith(errorLine(null, "line-too-long", `a request line may hold at most ${max} bytes`));
        return;
      }
      if (newline < 0) return;
      const line = this.#pending.subarray(0, newline);
      this.#pending = newline + 1 === this.#pending.length ? EMPTY : this.#pending.subarray(newline + 1);
      if (isBlank(line)) continue; // tolerated, but does not count as activity
      this.#clearIdle();
      this.#busy = true;
      this.#socket.pause();
      void this.#ctx.answer(line).then((response) => this.#answered(response));
    }
  }

  #answered(response: string): void {
    this.#busy = false;
    if (this.#closing || this.#socket.destroyed) return;
    this.#armIdle();
    const resume = () => {
      this.#socket.resume();
      this.#next();
    };
    if (this.#socket.write(response)) resume();
    else this.#socket.once("drain", resume);
  }

  #closeWith(line: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#pending = EMPTY;
    this.#clearIdle();
    this.#socket.setTimeout(1000, () => this.#socket.destroy());
    this.#socket.end(line, () => this.#socket.destroy());
  }

  /** The idle clock runs while we wait for a request (or for the client to read an answer). */
  #armIdle(): void {
    this.#clearIdle();
    this.idleSinceMs = performance.now();
    this.#idleTimer = setTimeout(() => {
      this.#ctx.countIdleTimeout();
      this.#closeWith(errorLine(null, "timeout", `no complete request within ${this.#ctx.idleTimeoutMs} ms`));
    }, this.#ctx.idleTimeoutMs);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.idleSinceMs = undefined;
  }
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

async function checkDirectory(dir: string): Promise<string | undefined> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch (err) {
    return `cannot use ${dir} for the control socket: ${(err as Error).message}`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory; the control socket needs one`;
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) {
    return `${dir} belongs to uid ${st.uid}, not to root or this user: its owner could replace the control socket`;
  }
  if ((st.mode & 0o022) !== 0) {
    return `${dir} is writable by group or others: they could replace the control socket; chmod go-w ${dir}`;
  }
  return undefined;
}

/** Undefined when the name is free (a stale socket was removed); else why we cannot start. */
async function clearStaleSocket(
  path: string,
  probeTimeoutMs: number,
  log?: Log,
): Promise<string | undefined> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) =>
    err.code === "ENOENT" ? undefined : err,
  );
  if (st === undefined) return undefined;
  if (st instanceof Error) return `cannot check ${path}: ${st.message}`;
  if (!st.isSocket()) return `${path} exists and is not a socket; remove it or set another STATE_DIR`;
  const answer = await probe(path, probeTimeoutMs);
  switch (answer) {
    case "gone":
      return undefined;
    case "refused":
      // Nobody listens: a daemon crashed without removing its socket.
      await unlink(path).catch(() => {});
      log?.notice(`adminalert: removed the stale control socket ${path}`);
      return undefined;
    case "answering":
      return `another portsentry is running (its control socket ${path} answers); stop it first`;
    case "denied":
      return `cannot check ${path}: permission denied`;
    case "timeout":
      return `${path} exists and did not answer within ${probeTimeoutMs} ms; if no portsentry is running, remove it`;
  }
}

type ProbeAnswer = "gone" | "refused" | "answering" | "denied" | "timeout";

/** Connects to an existing socket: does somebody listen there? */
function probe(path: string, timeoutMs: number): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    const done = (answer: ProbeAnswer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    socket.on("connect", () => done("answering"));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") done("gone");
      else if (err.code === "EACCES" || err.code === "EPERM") done("denied");
      else done("refused"); // ECONNREFUSED, also ENOTSOCK and the like: nobody listens there
    });
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on a control socket: ${err.message}`));
    server.once("error", onError);
    server.listen({ path }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
