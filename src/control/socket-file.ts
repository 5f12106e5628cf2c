/**
 * The control socket's file: made so that only the daemon's user and root can ever reach it,
 * checked at start-up against a socket already at its path, removed at stop only if still ours.
 *
 * Who may talk. Node cannot read SO_PEERCRED, so the guard is the file system: the socket is
 * mode 0600, owned by the daemon's user, in a directory that only root or that user may write.
 * connect() on a Unix socket needs write permission on the file, so only that user and root
 * (CAP_DAC_OVERRIDE) get through. The socket is bound inside a fresh 0700 directory, chmod'ed
 * to 0600 there, and only then hard-linked into place: whatever the umask, there is no moment
 * at which another user can reach it. link() fails if the name exists, so a socket that
 * appeared meanwhile is never replaced.
 */

import { chmod, link, lstat, mkdtemp, rm, stat, unlink } from "node:fs/promises";
import { createConnection, type Server } from "node:net";
import { dirname, join } from "node:path";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { MAX_SOCKET_PATH_BYTES } from "./protocol.js";

/** The placed socket file, by device and inode: what `removeIfOurs` compares against. */
export interface SocketIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * The start-up checks before binding: the path fits in sockaddr_un, its directory is one that
 * only root or we can write, and an existing socket there is a crashed daemon's (then removed),
 * never a live one's. Undefined when the path is free to use; else why we cannot start.
 */
export async function checkSocketPath(
  socketPath: string,
  probeTimeoutMs: number,
  log?: Log,
): Promise<string | undefined> {
  const dir = dirname(socketPath);
  // 1. The path must fit in sockaddr_un, also the temporary one ("<dir>/.ctl-XXXXXX/s").
  const longest = Math.max(Buffer.byteLength(socketPath), Buffer.byteLength(dir) + 14);
  if (longest > MAX_SOCKET_PATH_BYTES) {
    return `control socket path ${socketPath} is too long for a Unix socket; use a shorter STATE_DIR`;
  }
  // 2. The directory must be one that only root or we can write.
  const dirProblem = await checkDirectory(dir);
  if (dirProblem !== undefined) return dirProblem;
  // 3. An existing socket: a live daemon's is never taken; a crashed one's is removed.
  return clearStaleSocket(socketPath, probeTimeoutMs, log);
}

/**
 * Binds `server` in a fresh private directory beside `socketPath`, makes the socket 0600 and
 * hard-links it into place. Throws with a message for the user; the temporary name goes in
 * every case, the socket lives on under its real name.
 */
export async function bindPrivately(server: Server, socketPath: string, log?: Log): Promise<SocketIdentity> {
  let tmpDir: string | undefined;
  try {
    tmpDir = await mkdtemp(join(dirname(socketPath), ".ctl-"));
    const tmpSocket = join(tmpDir, "s");
    await listen(server, tmpSocket);
    // From now on an error (say EMFILE on accept) is logged; unhandled it would end the daemon.
    server.on("error", (err: Error) => log?.error(msg.controlSocketError(err.message)));
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
    return { dev: placed.dev, ino: placed.ino };
  } finally {
    if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Removes the name only if it is still our socket (never another daemon's). */
export async function removeIfOurs(socketPath: string, ours: SocketIdentity): Promise<void> {
  const st = await lstat(socketPath).catch(() => undefined);
  if (st !== undefined && st.dev === ours.dev && st.ino === ours.ino) {
    await unlink(socketPath).catch(() => {});
  }
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
      log?.notice(msg.staleSocketRemoved(path));
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

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
