import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { type TcpConnectHit, TcpTrap } from "../../../src/sensors/tcp-trap.js";
import { nmapArgv } from "../../helpers/scans.js";

const isRoot = process.getuid?.() === 0;
const trapModuleUrl = new URL("../../../src/sensors/tcp-trap.js", import.meta.url).href;

const openTraps: TcpTrap[] = [];
after(() => {
  for (const trap of openTraps) trap.close();
});

function openTrap(
  port: number,
  family: 4 | 6,
  onHit: (hit: TcpConnectHit) => string | Buffer | undefined,
): TcpTrap {
  const trap = TcpTrap.open(port, family, onHit);
  openTraps.push(trap);
  return trap;
}

/** The error TcpTrap.open throws; a trap that opens anyway is closed by after(). */
function openError(port: number, family: 4 | 6): NodeJS.ErrnoException {
  try {
    openTrap(port, family, () => undefined);
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  return assert.fail(`TcpTrap.open(${port}, ${family}) should have failed`);
}

async function waitFor(what: string, ready: () => boolean, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ready()) {
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Connects, reads until the server closes; resolves with what was read and the client port. */
function connectAndRead(host: string, port: number): Promise<{ data: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = "";
    let localPort = 0;
    socket.setEncoding("utf8");
    socket.setTimeout(5_000, () => socket.destroy(new Error("client timed out")));
    socket.on("connect", () => {
      localPort = socket.localPort ?? 0;
    });
    socket.on("data", (chunk: string) => {
      data += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve({ data, localPort }));
  });
}

function ipv6LoopbackWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

function runFile(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A child node process running `code` (ESM); its stdout lines are JSON messages. */
function spawnChild(
  code: string,
  prefix: readonly string[] = [],
): { child: ChildProcess; next: () => Promise<unknown> } {
  const argv = [...prefix, process.execPath, "--input-type=module", "-e", code];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 20_000,
  });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(JSON.parse(line));
      const timer = setTimeout(() => reject(new Error("child sent nothing within 10 s")), 10_000);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(JSON.parse(l));
      });
      child.once("exit", (status) => reject(new Error(`child exited (${status}) before its next message`)));
    });
  return { child, next };
}

test("a plain IPv4 connect is attributed: address, both ports, family", { timeout: 60_000 }, async () => {
  const hits: TcpConnectHit[] = [];
  const trap = openTrap(0, 4, (hit) => {
    hits.push(hit);
    return undefined;
  });
  assert.ok(trap.port > 0);
  const { data, localPort } = await connectAndRead("127.0.0.1", trap.port);
  await waitFor("one hit", () => hits.length === 1);
  assert.equal(data, "", "no banner when onHit returns undefined");
  assert.deepEqual(hits[0], { address: "127.0.0.1", family: 4, remotePort: localPort, localPort: trap.port });
  assert.deepEqual(trap.stats, { accepted: 1, skipped: 0, resourceErrors: 0 });
});

test("a plain IPv6 connect is attributed to ::1", { timeout: 60_000 }, async (t) => {
  if (!(await ipv6LoopbackWorks())) return t.skip("no IPv6 loopback on this host");
  const hits: TcpConnectHit[] = [];
  const trap = openTrap(0, 6, (hit) => {
    hits.push(hit);
    return undefined;
  });
  const { localPort } = await connectAndRead("::1", trap.port);
  await waitFor("one hit", () => hits.length === 1);
  assert.deepEqual(hits[0], { address: "::1", family: 6, remotePort: localPort, localPort: trap.port });
});

test("the banner (string or Buffer) reaches a client that reads, then the trap closes the connection", {
  timeout: 60_000,
}, async () => {
  const text = openTrap(0, 4, () => "220 mail.example.test ESMTP\r\n");
  assert.equal((await connectAndRead("127.0.0.1", text.port)).data, "220 mail.example.test ESMTP\r\n");
  const bytes = openTrap(0, 4, () => Buffer.from("SSH-2.0-OpenSSH_9.2\r\n"));
  assert.equal((await connectAndRead("127.0.0.1", bytes.port)).data, "SSH-2.0-OpenSSH_9.2\r\n");
});

test("v4 and v6 traps share a port; a port in use fails with EADDRINUSE naming the port", {
  timeout: 60_000,
}, async (t) => {
  const v4 = openTrap(0, 4, () => undefined);
  const inUse = openError(v4.port, 4);
  assert.equal(inUse.code, "EADDRINUSE");
  assert.match(inUse.message, new RegExp(`TCP port ${v4.port}\\b`));
  if (!(await ipv6LoopbackWorks())) return t.skip("no IPv6 loopback on this host");
  const v6 = openTrap(v4.port, 6, () => undefined); // IPV6_V6ONLY: no clash with the v4 trap
  assert.equal(v6.port, v4.port);
  assert.equal(openError(v4.port, 6).code, "EADDRINUSE");
});

test("a port held by another program is EADDRINUSE too", { timeout: 60_000 }, async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  try {
    const address = server.address() as net.AddressInfo;
    assert.equal(openError(address.port, 4).code, "EADDRINUSE");
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("bad arguments are range errors, not crashes", { timeout: 60_000 }, () => {
  for (const [port, family] of [
    [65536, 4],
    [-1, 4],
    [1.5, 4],
    [0, 5],
  ] as const) {
    assert.equal(openError(port, family as 4).code, "ERR_OUT_OF_RANGE", `open(${port}, ${family})`);
  }
});

test("close() releases the port at once, is idempotent, and keeps the counters", {
  timeout: 60_000,
}, async () => {
  const fdsBefore = openFdCount();
  const first = openTrap(0, 4, () => undefined); // closed here; after() only if the test fails early
  const port = first.port;
  await connectAndRead("127.0.0.1", port);
  await waitFor("the hit", () => first.stats.accepted === 1);
  first.close();
  first.close();
  assert.equal(first.isOpen, false);
  assert.equal(first.stats.accepted, 1);
  assert.equal(openFdCount(), fdsBefore, "listening fd closed");
  const again = openTrap(port, 4, () => undefined);
  assert.equal(again.port, port);
});

test("nmap -sT: every connection is attributed to 127.0.0.1 and ::1", { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip("needs root (nmap -sT as a test scanner)");
  for (const [family, host] of [
    [4, "127.0.0.1"],
    [6, "::1"],
  ] as const) {
    if (family === 6 && !(await ipv6LoopbackWorks())) {
      t.diagnostic("no IPv6 loopback: IPv6 scan skipped");
      continue;
    }
    const hits: TcpConnectHit[] = [];
    const traps = Array.from({ length: 10 }, () =>
      openTrap(0, family, (hit) => {
        hits.push(hit);
        return undefined;
      }),
    );
    const ports = traps.map((trap) => trap.port);
    const [command, ...args] = nmapArgv({ scan: "-sT", family, ports, target: host });
    const report = await runFile(command!, args);
    await waitFor(`${ports.length} hits from ${host}`, () => hits.length >= ports.length);
    assert.equal(hits.length, ports.length, `one hit per scanned port\n${report}`);
    assert.deepEqual([...new Set(hits.map((hit) => hit.address))], [host]);
    assert.deepEqual(hits.map((hit) => hit.localPort).sort(), [...ports].sort());
    for (const hit of hits) assert.ok(hit.remotePort > 0 && hit.family === family);
    for (const trap of traps) trap.close();
  }
});

test("2000 quick connect-and-reset clients: all attributed, no fd left behind", {
  timeout: 60_000,
}, async () => {
  const total = 2000;
  const concurrency = 100;
  let hits = 0;
  let unattributed = 0;
  const trap = openTrap(0, 4, (hit) => {
    hits++;
    if (hit.address !== "127.0.0.1") unattributed++;
    return "banner\r\n";
  });
  const fdsBefore = openFdCount();
  let started = 0;
  let closed = 0;
  const startOne = (): void => {
    started++;
    const socket = net.connect({ host: "127.0.0.1", port: trap.port });
    socket.on("connect", () => socket.resetAndDestroy()); // what nmap -sT does
    socket.on("error", () => undefined); // the trap may close first: a reset is fine
    socket.on("close", () => {
      closed++;
      if (started < total) startOne();
    });
  };
  for (let i = 0; i < concurrency; i++) startOne();
  await waitFor("every client closed", () => closed === total, 30_000);
  await waitFor(`${total} hits`, () => hits === total, 10_000);
  assert.equal(unattributed, 0);
  assert.equal(trap.stats.accepted, total);
  await waitFor("fd count back to where it was", () => openFdCount() === fdsBefore);
});

test("an exception in onHit closes the connection first and reaches 'uncaughtException'", {
  timeout: 60_000,
}, async (t) => {
  const code = `
    import { TcpTrap } from ${JSON.stringify(trapModuleUrl)};
    import { readdirSync } from "node:fs";
    const fds = () => readdirSync("/proc/self/fd").length;
    let hits = 0, uncaught = 0;
    process.on("uncaughtException", () => { uncaught++; report(); });
    const trap = TcpTrap.open(0, 4, () => { hits++; throw new Error("handler bug"); });
    console.log(JSON.stringify({ port: trap.port })); // first write to stdout opens an fd
    const before = fds();
    const report = () => console.log(JSON.stringify({ hits, uncaught, fdDelta: fds() - before }));
    setTimeout(() => { trap.close(); process.exit(0); }, 15000).unref();
  `;
  const { child, next } = spawnChild(code);
  t.after(() => child.kill("SIGKILL"));
  const { port } = (await next()) as { port: number };
  for (let round = 1; round <= 3; round++) {
    await connectAndRead("127.0.0.1", port);
    const seen = (await next()) as { hits: number; uncaught: number; fdDelta: number };
    assert.deepEqual(seen, { hits: round, uncaught: round, fdDelta: 0 }, `round ${round}`);
  }
});

test("EMFILE pauses accepting instead of spinning, and the pending connection is attributed later", {
  timeout: 60_000,
}, async (t) => {
  const code = `
    import { TcpTrap } from ${JSON.stringify(trapModuleUrl)};
    import { openSync, closeSync } from "node:fs";
    const errors = [];
    const trap = TcpTrap.open(0, 4, (hit) => { console.log(JSON.stringify({ hit, stats: trap.stats })); process.exit(0); },
      { onAcceptError: (code) => errors.push({ code, at: performance.now() }) });
    const fillers = [];
    for (let i = 0; i < 10000; i++) {
      try { fillers.push(openSync("/dev/null", "r")); } catch { break; }
    }
    console.log(JSON.stringify({ port: trap.port, fillers: fillers.length }));
    const waitForError = setInterval(() => {
      if (errors.length === 0) return;
      clearInterval(waitForError);
      const first = errors[0].at;
      // Watch the paused trap for 500 ms: a spinning loop would report thousands of errors.
      setTimeout(() => {
        const windowMs = performance.now() - first;
        console.log(JSON.stringify({ codes: [...new Set(errors.map((e) => e.code))], errors: errors.length, windowMs }));
        for (const fd of fillers) closeSync(fd);
      }, 500);
    }, 5);
    setTimeout(() => process.exit(3), 15000).unref();
  `;
  const { child, next } = spawnChild(code, ["prlimit", "--nofile=64:64"]);
  t.after(() => child.kill("SIGKILL"));
  const ready = (await next()) as { port: number; fillers: number };
  assert.ok(ready.fillers > 0 && ready.fillers < 64, `child filled its fd table (${ready.fillers})`);
  const client = connectAndRead("127.0.0.1", ready.port);
  const paused = (await next()) as { codes: string[]; errors: number; windowMs: number };
  assert.deepEqual(paused.codes, ["EMFILE"]);
  assert.ok(
    paused.errors <= Math.ceil(paused.windowMs / 100) + 2,
    `${paused.errors} accept errors in ${paused.windowMs.toFixed(0)} ms: must be about one per 100 ms pause`,
  );
  const delivered = (await next()) as { hit: TcpConnectHit; stats: { resourceErrors: number } };
  const { localPort } = await client;
  assert.deepEqual(delivered.hit, {
    address: "127.0.0.1",
    family: 4,
    remotePort: localPort,
    localPort: ready.port,
  });
  assert.equal(delivered.stats.resourceErrors, paused.errors);
});
