import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import net from "node:net";
import { after, test } from "node:test";
import { type UdpDatagramHit, UdpTrap } from "../../../src/sensors/udp-trap.js";

const openTraps: UdpTrap[] = [];
const openClients: Socket[] = [];
after(() => {
  for (const trap of openTraps) trap.close();
  for (const client of openClients) client.close();
});

async function openTrap(
  port: number,
  family: 4 | 6,
  onHit: (hit: UdpDatagramHit) => string | Buffer | undefined = () => undefined,
): Promise<UdpTrap> {
  const trap = await UdpTrap.open(port, family, onHit);
  openTraps.push(trap);
  return trap;
}

/** A client bound to loopback; resolves with its port and a promise of the first reply. */
async function client(family: 4 | 6): Promise<{ socket: Socket; port: number; reply: Promise<string> }> {
  const socket = createSocket(family === 4 ? "udp4" : "udp6");
  openClients.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, family === 4 ? "127.0.0.1" : "::1", resolve));
  const reply = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reply within 5 s")), 5_000);
    socket.once("message", (message) => {
      clearTimeout(timer);
      resolve(message.toString("utf8"));
    });
  });
  reply.catch(() => undefined); // awaited only by tests that expect a reply
  return { socket, port: socket.address().port, reply };
}

async function waitFor(what: string, ready: () => boolean, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ready()) {
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function ipv6LoopbackWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

async function bindError(port: number, family: 4 | 6): Promise<NodeJS.ErrnoException> {
  try {
    await openTrap(port, family);
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  return assert.fail(`UdpTrap.open(${port}, ${family}) should have failed`);
}

for (const [family, host] of [
  [4, "127.0.0.1"],
  [6, "::1"],
] as const) {
  test(`an IPv${family} datagram is attributed and the banner comes back`, { timeout: 30_000 }, async (t) => {
    if (family === 6 && !(await ipv6LoopbackWorks())) return t.skip("no IPv6 loopback on this host");
    const hits: UdpDatagramHit[] = [];
    const trap = await openTrap(0, family, (hit) => {
      hits.push(hit);
      return "SNMP? no.\n";
    });
    const sender = await client(family);
    sender.socket.send("probe", trap.port, host);
    assert.equal(await sender.reply, "SNMP? no.\n");
    assert.deepEqual(hits, [{ address: host, family, remotePort: sender.port, localPort: trap.port }]);
    assert.deepEqual(trap.stats, { datagrams: 1, sendErrors: 0 });
  });
}

test("no banner: the datagram is counted and nothing is sent", { timeout: 30_000 }, async () => {
  let hits = 0;
  const trap = await openTrap(0, 4, () => {
    hits++;
    return undefined;
  });
  const sender = await client(4);
  sender.socket.send(Buffer.alloc(0), trap.port, "127.0.0.1"); // empty datagrams are hits too
  await waitFor("the hit", () => hits === 1);
  assert.equal(trap.stats.datagrams, 1);
});

test("v4 and v6 traps share a port; a port in use rejects with EADDRINUSE", {
  timeout: 30_000,
}, async (t) => {
  const v4 = await openTrap(0, 4);
  assert.equal((await bindError(v4.port, 4)).code, "EADDRINUSE");
  if (!(await ipv6LoopbackWorks())) return t.skip("no IPv6 loopback on this host");
  const v6 = await openTrap(v4.port, 6); // ipv6Only: no clash with the v4 trap
  assert.equal(v6.port, v4.port);
  assert.equal((await bindError(v4.port, 6)).code, "EADDRINUSE");
});

test("close() releases the port at once and is idempotent", { timeout: 30_000 }, async () => {
  const first = await openTrap(0, 4);
  first.close();
  first.close();
  assert.equal(first.isOpen, false);
  const again = await openTrap(first.port, 4);
  assert.equal(again.port, first.port);
});
