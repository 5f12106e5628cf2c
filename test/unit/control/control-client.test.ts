import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { connectError, request } from "../../../src/control/client.js";
import { okLine } from "../../../src/control/responses.js";
import { STATUS, tempDir } from "./fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A daemon impostor: answers each connection with `reply(firstLine)`. */
async function impostor(reply: (line: string, socket: Socket) => void): Promise<string> {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, "portsentry.sock");
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString();
      const nl = buffered.indexOf("\n");
      if (nl >= 0) reply(buffered.slice(0, nl), socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    await cleanup();
  });
  return path;
}

test("no daemon: a clear 'not running'", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const path = join(dir, "portsentry.sock");
  const r = await request(path, "status", [], 2000);
  assert.deepEqual(r, {
    ok: false,
    error: { code: "not-running", message: `portsentry is not running (no socket at ${path})` },
  });
  const missingDir = await request(join(dir, "nope", "portsentry.sock"), "status", [], 2000);
  assert.equal(missingDir.ok ? "" : missingDir.error.code, "not-running");
});

test("error codes of connect() in words", () => {
  assert.equal(connectError("EACCES", "", "/s").message, "permission denied: run as root (/s)");
  assert.equal(connectError("EPERM", "", "/s").code, "permission-denied");
  assert.equal(connectError("ECONNREFUSED", "", "/s").code, "not-running");
  assert.equal(connectError("EWHATEVER", "odd", "/s").message, "cannot reach portsentry at /s: odd");
});

test("the request on the wire, the id echoed", async () => {
  let seen = "";
  const path = await impostor((line, socket) => {
    seen = line;
    const { id } = JSON.parse(line) as { id: number };
    socket.write(okLine(id, [{ address: "192.0.2.1", ok: true, changed: false, message: "not blocked" }]));
  });
  const r = await request(path, "unblock", ["192.0.2.1"], 2000);
  assert.ok(r.ok);
  const sent = JSON.parse(seen) as Record<string, unknown>;
  assert.deepEqual({ ...sent, id: 0 }, { v: 1, id: 0, cmd: "unblock", args: ["192.0.2.1"] });
  assert.equal(r.id, sent.id);
});

test("a daemon that answers in pieces, badly, late or not at all", async () => {
  const pieces = await impostor((line, socket) => {
    const text = okLine((JSON.parse(line) as { id: number }).id, STATUS);
    socket.write(text.slice(0, 10));
    setImmediate(() => socket.write(text.slice(10)));
  });
  assert.ok((await request(pieces, "status", [], 2000)).ok);

  const wrongShape = await impostor((line, socket) => {
    socket.write(okLine((JSON.parse(line) as { id: number }).id, { ...STATUS, pid: "1" }));
  });
  const r1 = await request(wrongShape, "status", [], 2000);
  assert.equal(r1.ok ? "" : r1.error.code, "bad-response");

  const hangsUp = await impostor((_line, socket) => socket.destroy());
  const r2 = await request(hangsUp, "status", [], 2000);
  assert.equal(r2.ok ? "" : r2.error.code, "connection-closed");

  const silent = await impostor(() => {});
  const t0 = Date.now();
  const r3 = await request(silent, "status", [], 200);
  assert.equal(r3.ok ? "" : r3.error.code, "timeout");
  assert.ok(Date.now() - t0 < 10_000, "the client gave up, not the test runner");
});
