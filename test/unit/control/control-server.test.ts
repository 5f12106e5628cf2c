import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, link, lstat, mkdir, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { request } from "../../../src/control/client.js";
import type { ControlHandler } from "../../../src/control/dispatch.js";
import { formatMetrics } from "../../../src/control/metrics.js";
import { CONTROL_COMMANDS, MAX_CONNECTIONS, SOCKET_NAME } from "../../../src/control/protocol.js";
import {
  type ControlServer,
  type ControlServerOptions,
  startControlServer,
} from "../../../src/control/server.js";
import { MemoryLog } from "../../helpers/memory-log.js";
import { errorCode, fakeHandler, PROTECTED, RawClient, STATUS, tempDir, waitFor } from "./fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(
  handler: ControlHandler = fakeHandler(),
  options: ControlServerOptions = {},
): Promise<{ server: ControlServer; path: string; dir: string; log: MemoryLog }> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const path = join(dir, SOCKET_NAME);
  const log = new MemoryLog();
  const started = await startControlServer(path, handler, log, options);
  assert.ok(started.ok, started.ok ? "" : started.message);
  cleanups.push(() => started.server.close());
  return { server: started.server, path, dir, log };
}

async function raw(path: string): Promise<RawClient> {
  const c = await RawClient.connect(path);
  cleanups.push(() => c.close());
  return c;
}

test("every command of the table is answered", async () => {
  const handler = fakeHandler();
  const { path } = await serve(handler);
  const args: Record<string, string[]> = {
    unblock: ["192.0.2.7"],
    "unblock-fleet": ["192.0.2.7"],
    block: ["198.51.100.4"],
  };
  for (const c of CONTROL_COMMANDS) {
    const r = await request(path, c.name, args[c.name] ?? [], 5000);
    assert.ok(r.ok, `${c.name}: ${r.ok ? "" : r.error.message}`);
  }
});

test("status, blocked, metrics: the handler's data, only the documented fields", async () => {
  const handler = fakeHandler({
    blocked: () => [
      // A BlockRecord has a family too: it must not leak into the answer.
      { address: "192.0.2.7", family: 4, mode: "tcp", port: 143, sinceMs: 1, expiresAtMs: 0 } as never,
    ],
  });
  const { path } = await serve(handler);
  const status = await request(path, "status", [], 5000);
  assert.ok(status.ok);
  assert.deepEqual(status.result, { ...STATUS, blockedHosts: 2 });
  const blocked = await request(path, "blocked", [], 5000);
  assert.ok(blocked.ok);
  assert.deepEqual(blocked.result, [
    { address: "192.0.2.7", mode: "tcp", port: 143, sinceMs: 1, expiresAtMs: 0 },
  ]);
  const metrics = await request(path, "metrics", [], 5000);
  assert.ok(metrics.ok);
  assert.equal(metrics.result, formatMetrics({ ...STATUS, blockedHosts: 2 }));
});

test("unblock and block: canonical, distinct addresses, one result each, in order", async () => {
  const handler = fakeHandler();
  const { path } = await serve(handler);
  const r = await request(
    path,
    "unblock",
    ["192.0.2.7", "2001:DB8:0:0::9", "::ffff:192.0.2.7", "198.51.100.1", "2001:db8::9"],
    5000,
  );
  assert.ok(r.ok);
  assert.deepEqual(handler.calls, ["unblock 192.0.2.7", "unblock 2001:db8::9", "unblock 198.51.100.1"]);
  assert.deepEqual(r.result, [
    { address: "192.0.2.7", ok: true, changed: true, message: "unblocked" },
    { address: "2001:db8::9", ok: true, changed: true, message: "unblocked" },
    { address: "198.51.100.1", ok: true, changed: false, message: "not blocked" },
  ]);
  const refused = await request(path, "block", [PROTECTED], 5000);
  assert.ok(refused.ok);
  assert.deepEqual(refused.result, [
    { address: PROTECTED, ok: false, code: "protected", message: "one of this host's addresses" },
  ]);
});

test("invalid addresses never reach the handler", async () => {
  const handler = fakeHandler();
  const { path } = await serve(handler);
  const c = await raw(path);
  const bad = [
    "1.2.3",
    "192.0.2.1/24",
    "192.0.2.1; rm -rf /",
    "",
    " 192.0.2.1",
    "[2001:db8::1]",
    "fe80::1%eth0",
  ];
  for (const [i, a] of bad.entries()) {
    const r = await c.request({ v: 1, id: i, cmd: "block", args: [a] });
    assert.equal(errorCode(r), "bad-address", a);
    assert.equal(r.id, i);
  }
  // One bad address refuses the whole request: nothing is half done.
  assert.equal(
    errorCode(await c.request({ v: 1, id: 99, cmd: "unblock", args: ["192.0.2.7", "x"] })),
    "bad-address",
  );
  assert.deepEqual(handler.calls, []);
});

test("bad requests get error responses and the connection stays usable", async () => {
  const handler = fakeHandler();
  const { path, server } = await serve(handler);
  const c = await raw(path);
  const cases: [string | Buffer, string][] = [
    ["hello", "bad-json"],
    ['{"v":1,"id":1,"cmd":"status"', "bad-json"],
    [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), "bad-json"],
    ["[]", "bad-request"],
    ["null", "bad-request"],
    ["42", "bad-request"],
    ['{"v":1,"cmd":"status"}', "bad-request"],
    ['{"v":1,"id":-1,"cmd":"status"}', "bad-request"],
    ['{"v":1,"id":1.5,"cmd":"status"}', "bad-request"],
    ['{"v":1,"id":"1","cmd":"status"}', "bad-request"],
    ['{"v":2,"id":1,"cmd":"status"}', "unsupported-version"],
    ['{"id":1,"cmd":"status"}', "unsupported-version"],
    ['{"v":1,"id":1,"cmd":"status","x":1}', "bad-request"],
    ['{"v":1,"id":1,"cmd":"status","__proto__":{"polluted":1}}', "bad-request"],
    ['{"v":1,"id":1,"cmd":7}', "bad-request"],
    ['{"v":1,"id":1,"cmd":"reboot"}', "unknown-command"],
    ['{"v":1,"id":1,"cmd":"toString"}', "unknown-command"],
    ['{"v":1,"id":1,"cmd":"status","args":["192.0.2.1"]}', "bad-arguments"],
    ['{"v":1,"id":1,"cmd":"block","args":[]}', "bad-arguments"],
    ['{"v":1,"id":1,"cmd":"block","args":"192.0.2.1"}', "bad-arguments"],
    ['{"v":1,"id":1,"cmd":"block","args":[1]}', "bad-arguments"],
    ['{"v":1,"id":1,"cmd":"block","args":["192.0.2.1","192.0.2.2"]}', "bad-arguments"],
    [
      `{"v":1,"id":1,"cmd":"unblock","args":${JSON.stringify(Array(1025).fill("192.0.2.1"))}}`,
      "bad-arguments",
    ],
    [`${"[".repeat(30_000)}${"]".repeat(30_000)}`, "bad-request"],
  ];
  for (const [line, code] of cases) {
    c.send(Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from("\n")]));
    const r = await c.next();
    assert.equal(r.ok, false, String(line).slice(0, 60));
    assert.equal(errorCode(r), code, String(line).slice(0, 60));
    assert.equal(r.v, 1);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Blank lines are skipped; CRLF is fine; several requests in one write are answered in order.
  c.send('\n  \r\n{"v":1,"id":5,"cmd":"status"}\r\n{"v":1,"id":6,"cmd":"blocked"}\n');
  assert.deepEqual([(await c.next()).id, (await c.next()).id], [5, 6]);
  assert.equal(c.closed, false);
  assert.equal(server.stats().badRequests, cases.length);
});

test("a line longer than 64 KiB is refused and the connection closed", async () => {
  const { path } = await serve();
  const noNewline = await raw(path);
  noNewline.send("x".repeat(70 * 1024));
  assert.equal(errorCode(await noNewline.next()), "line-too-long");
  await waitFor("close", () => noNewline.closed);

  const withNewline = await raw(path);
  withNewline.send(`{"v":1,"id":1,"cmd":"status","pad":"${"y".repeat(65 * 1024)}"}\n`);
  assert.equal(errorCode(await withNewline.next()), "line-too-long");
  await waitFor("close", () => withNewline.closed);

  // Exactly at the limit is still read (and refused for its content, not its size).
  const atLimit = await raw(path);
  const prefix = '{"v":1,"id":1,"cmd":"status","pad":"';
  atLimit.send(`${prefix}${"z".repeat(64 * 1024 - prefix.length - 2)}"}\n`);
  assert.equal(errorCode(await atLimit.next()), "bad-request");
  assert.equal(atLimit.closed, false);
  assert.ok((await request(path, "status", [], 5000)).ok, "the server still answers");
});

test("100 concurrent connections: at most 16 are served, the rest get busy", async () => {
  // A burst: no connection has been idle long enough to give up its slot.
  const { path, server } = await serve(fakeHandler(), { maxConnections: 16, evictIdleAfterMs: 60_000 });
  const clients = await Promise.all(Array.from({ length: 100 }, () => raw(path)));
  await waitFor("84 busy answers", () => clients.filter((c) => c.closed).length === 84);
  const busy = clients.filter((c) => c.closed);
  for (const c of busy) assert.equal(errorCode(JSON.parse(c.lines[0]!)), "busy");
  assert.equal(server.stats().connections, 16);
  assert.equal(server.stats().rejected, 84);
  for (const c of clients) c.close();
  await waitFor("connections released", () => server.stats().connections === 0);

  // 100 requests at once: each is answered, either served or busy; never a hang or a crash.
  const outcomes = await Promise.all(Array.from({ length: 100 }, () => request(path, "status", [], 5000)));
  const served = outcomes.filter((o) => o.ok).length;
  const refused = outcomes.filter((o) => !o.ok && o.error.code === "busy").length;
  assert.equal(served + refused, 100);
  assert.ok(served >= 16, `${served} served`);
  assert.ok((await request(path, "status", [], 5000)).ok);
});

test("16 idle connections do not lock status out: the longest idle gives its slot up", async () => {
  // The defaults: MAX_CONNECTIONS slots, a 10 s idle timeout that must not be what frees them.
  const { path, server } = await serve();
  const idle = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => raw(path)));
  await waitFor("every slot taken", () => server.stats().connections === MAX_CONNECTIONS);
  // The first tries may meet `busy` (the idle ones are too fresh); within 5 s status answers.
  const deadline = Date.now() + 5000;
  let answered = false;
  while (!answered && Date.now() < deadline) {
    const r = await request(path, "status", [], 5000);
    answered = r.ok;
    if (!r.ok) {
      assert.equal(r.error.code, "busy");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  assert.ok(answered, "status was not answered within 5 s while idle clients held every slot");
  // One idle client, the longest waiting, was told why it was closed; the others still hold.
  const evicted = idle.filter((c) => c.closed);
  assert.ok(evicted.length >= 1);
  assert.equal(errorCode(JSON.parse(evicted[0]!.lines[0]!)), "timeout");
  assert.match(evicted[0]!.lines[0]!, /idle while every control connection was taken/);
  assert.ok(idle.filter((c) => !c.closed).length >= MAX_CONNECTIONS - 2);
  assert.ok(server.stats().timeouts >= 1, "an eviction counts as an idle close");
});

test("a client that never sends a newline is closed after the idle timeout, also if it dribbles", async () => {
  const { path, server } = await serve(fakeHandler(), { idleTimeoutMs: 300 });
  const silent = await raw(path);
  const t0 = Date.now();
  silent.send('{"v":1,"id":1,');
  await waitFor("idle close", () => silent.closed, 5000);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 250, `closed after ${elapsed} ms`);
  assert.equal(errorCode(JSON.parse(silent.lines[0]!)), "timeout");

  // One byte every 50 ms does not keep a connection open: the clock runs per request.
  const dribbler = await raw(path);
  const drip = setInterval(() => {
    if (!dribbler.closed) dribbler.send(" ");
  }, 50);
  try {
    await waitFor("dribbler closed", () => dribbler.closed, 3000);
  } finally {
    clearInterval(drip);
  }
  // An answered request restarts the clock.
  const active = await raw(path);
  assert.equal((await active.request({ v: 1, id: 1, cmd: "status" })).ok, true);
  await waitFor("idle close after an answer", () => active.closed, 5000);
  assert.ok(server.stats().timeouts >= 3);
});

test("a client that does not read its answers is closed; the server's buffering stays bounded", async () => {
  const many = Array.from({ length: 50_000 }, (_, i) => ({
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    mode: "tcp" as const,
    port: 143,
    sinceMs: 1_714_565_402_000,
    expiresAtMs: 0,
  }));
  const { path, server } = await serve(fakeHandler({ blocked: () => many }), { idleTimeoutMs: 300 });
  const c = await raw(path);
  c.socket.pause(); // never read
  for (let i = 0; i < 20; i++) c.send(`{"v":1,"id":${i},"cmd":"blocked"}\n`);
  await waitFor("the server drops the non-reader", () => server.stats().connections === 0, 10_000);
});

test("a handler that hangs gets a timeout answer; one that throws an internal error", async () => {
  const handler = fakeHandler({
    unblock: () => new Promise(() => {}),
    status: () => {
      throw new Error("boom");
    },
  });
  const { path, log } = await serve(handler, { handlerTimeoutMs: 100 });
  const c = await raw(path);
  const hung = await c.request({ v: 1, id: 1, cmd: "unblock", args: ["192.0.2.7"] });
  assert.equal(errorCode(hung), "timeout");
  assert.equal(hung.id, 1);
  const thrown = await c.request({ v: 1, id: 2, cmd: "status" });
  assert.equal(errorCode(thrown), "internal");
  assert.ok(!JSON.stringify(thrown).includes("boom"), "internals stay in the log");
  assert.ok(log.messages().some((m) => m.includes("boom")));
  assert.equal((await c.request({ v: 1, id: 3, cmd: "blocked" })).ok, true);
  // A block handler that throws fails that address only.
  const { path: p2 } = await serve(
    fakeHandler({
      block: () => {
        throw new Error("nft died");
      },
    }),
  );
  const r = await request(p2, "block", ["192.0.2.8"], 5000);
  assert.ok(r.ok);
  assert.equal(r.result[0]!.ok, false);
});

test("the socket is 0600 whatever the umask, in place only once it is", async () => {
  const old = process.umask(0);
  let started: Awaited<ReturnType<typeof serve>>;
  try {
    started = await serve();
  } finally {
    process.umask(old);
  }
  const st = await stat(started.path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  // The temporary directory is gone.
  const { readdir } = await import("node:fs/promises");
  assert.deepEqual(await readdir(started.dir), [SOCKET_NAME]);
});

test("another user cannot connect (the 0600 mode is the guard)", async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("needs root to run a client as nobody");
    return;
  }
  const { path, dir } = await serve();
  await chmod(dir, 0o755); // let nobody reach the file itself: only its mode stands in the way
  const script = `require("net").createConnection(${JSON.stringify(path)})
    .on("connect", () => { console.log("CONNECTED"); process.exit(0); })
    .on("error", (e) => { console.log(e.code); process.exit(0); });`;
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["-e", script],
      { uid: 65534, gid: 65534, cwd: "/", timeout: 10_000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    );
  });
  assert.equal(out, "EACCES");
  // The client's own message for it, from the same user.
  const clientUrl = new URL("../../../src/control/client.js", import.meta.url).href;
  const viaClient = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { request } from ${JSON.stringify(clientUrl)};
         const r = await request(${JSON.stringify(path)}, "status", [], 5000);
         console.log(JSON.stringify(r));`,
      ],
      { uid: 65534, gid: 65534, cwd: "/", timeout: 10_000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    );
  });
  assert.deepEqual(JSON.parse(viaClient), {
    ok: false,
    error: { code: "permission-denied", message: `permission denied: run as root (${path})` },
  });
});

test("a stale socket from a crashed daemon is removed at start", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const path = join(dir, SOCKET_NAME);
  // Make a socket file nobody listens on: a second name for a socket, then close the socket.
  const first = await startControlServer(join(dir, "other.sock"), fakeHandler());
  assert.ok(first.ok);
  await link(first.server.socketPath, path);
  await first.server.close();
  assert.ok((await lstat(path)).isSocket());
  const stale = await request(path, "status", [], 5000);
  assert.equal(stale.ok ? "" : stale.error.code, "not-running");

  const log = new MemoryLog();
  const started = await startControlServer(path, fakeHandler(), log);
  assert.ok(started.ok, started.ok ? "" : started.message);
  cleanups.push(() => started.server.close());
  assert.ok(log.messages().some((m) => m.includes("removed the stale control socket")));
  assert.ok((await request(path, "status", [], 5000)).ok);
});

test("a running daemon's socket is never taken", async () => {
  const { path, dir } = await serve();
  const before = await lstat(path);
  const second = await startControlServer(path, fakeHandler());
  assert.equal(second.ok, false);
  assert.match(second.ok ? "" : second.message, /another portsentry is running .*answers.*stop it first/);
  assert.equal((await lstat(path)).ino, before.ino);
  assert.ok((await request(path, "status", [], 5000)).ok, "the first one still answers");
  const { readdir } = await import("node:fs/promises");
  assert.deepEqual(await readdir(dir), [SOCKET_NAME], "no temporary residue");
});

test("what is not a socket is not touched; an unsafe directory is refused; too long a path too", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const file = join(dir, SOCKET_NAME);
  await writeFile(file, "precious");
  const r1 = await startControlServer(file, fakeHandler());
  assert.match(r1.ok ? "" : r1.message, /exists and is not a socket/);
  assert.ok((await lstat(file)).isFile());

  const open = join(dir, "open");
  await mkdir(open);
  await chmod(open, 0o777);
  const r2 = await startControlServer(join(open, SOCKET_NAME), fakeHandler());
  assert.match(r2.ok ? "" : r2.message, /writable by group or others/);

  const r3 = await startControlServer(join(dir, "missing", SOCKET_NAME), fakeHandler());
  assert.match(r3.ok ? "" : r3.message, /cannot use .*missing/);

  const r4 = await startControlServer(join(dir, "d".repeat(100), SOCKET_NAME), fakeHandler());
  assert.match(r4.ok ? "" : r4.message, /too long/);
});

test("close removes the socket, but not a name that is no longer ours", async () => {
  const { path, server } = await serve();
  await server.close();
  await assert.rejects(lstat(path), /ENOENT/);
  await server.close(); // twice is fine

  const again = await serve();
  await unlink(again.path);
  await writeFile(again.path, "someone else's");
  await again.server.close();
  assert.ok((await lstat(again.path)).isFile());
});

test("changes made over the socket are logged, one line an address", async () => {
  const { path, log } = await serve();
  await request(path, "unblock", ["192.0.2.7", "198.51.100.1"], 5000);
  await request(path, "block", [PROTECTED], 5000);
  await request(path, "status", [], 5000);
  assert.deepEqual(log.messages(), [
    "adminalert: control request: unblock 192.0.2.7: unblocked",
    "adminalert: control request: unblock 198.51.100.1: not blocked",
    `adminalert: control request: block ${PROTECTED}: refused (protected): one of this host's addresses`,
  ]);
});
