/** Listening ports by sock_diag (native/sock_diag.c) on this host, against /proc/net's answer. */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { describe, test } from "node:test";
import { portList } from "../../../src/port-set.js";
import { listeningSource, readListening, readListeningProc } from "../../../src/sensors/listening.js";
import { readListeningDiag } from "../../../src/sensors/sock-diag.js";

async function listen(host: string): Promise<{ server: Server; port: number } | undefined> {
  const server = createServer();
  server.listen(0, host);
  try {
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([error]) => Promise.reject(error)),
    ]);
  } catch {
    return undefined; // no IPv6 here
  }
  return { server, port: (server.address() as { port: number }).port };
}

async function close(server: Server): Promise<void> {
  server.close();
  await once(server, "close");
}

describe("readListeningDiag", () => {
  test("TCP listeners (IPv4 and IPv6) and a bound UDP socket show up, and go away", async () => {
    const v4 = await listen("127.0.0.1");
    assert.ok(v4, "a TCP listener on 127.0.0.1");
    const v6 = await listen("::1");
    const udp = createSocket("udp4");
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    const udpPort = udp.address().port;
    try {
      const tcp = readListeningDiag("tcp");
      assert.equal(tcp[v4.port], 1);
      if (v6) assert.equal(tcp[v6.port], 1);
      assert.equal(readListeningDiag("udp")[udpPort], 1);
    } finally {
      await close(v4.server);
      if (v6) await close(v6.server);
      udp.close();
      await once(udp, "close");
    }
    const tcp = readListeningDiag("tcp");
    assert.equal(tcp[v4.port], 0);
    if (v6) assert.equal(tcp[v6.port], 0);
    assert.equal(readListeningDiag("udp")[udpPort], 0);
  });

  test("a connected TCP client's local port and a connected UDP socket's are not marked", async () => {
    const server = await listen("127.0.0.1");
    assert.ok(server);
    const accepted = once(server.server, "connection");
    const client = connect(server.port, "127.0.0.1");
    await once(client, "connect");
    const [peer] = (await accepted) as [Socket];
    const udp = createSocket("udp4");
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    udp.connect(9, "127.0.0.1"); // connected: TCP_ESTABLISHED, /proc state 01
    await once(udp, "connect");
    try {
      const clientPort = client.localPort;
      assert.ok(clientPort !== undefined && clientPort !== server.port);
      const tcp = readListeningDiag("tcp");
      assert.equal(tcp[server.port], 1);
      assert.equal(tcp[clientPort], 0, "the client's ephemeral port does not listen");
      assert.equal(readListeningDiag("udp")[udp.address().port], 0, "a connected UDP socket");
    } finally {
      peer.destroy();
      client.destroy();
      udp.close();
      await close(server.server);
    }
  });

  test("answers exactly what /proc/net says, for TCP and UDP", () => {
    for (const proto of ["tcp", "udp"] as const) {
      // Sockets may come and go between two reads (other tests, the host): retry a few times.
      let diag: number[] = [];
      let proc: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        proc = portList(readListeningProc(proto));
        diag = portList(readListeningDiag(proto));
        if (diag.join() === proc.join()) break;
      }
      assert.deepEqual(diag, proc, proto);
    }
  });

  test("readListening uses sock_diag on the real /proc root and /proc parsing for another", () => {
    assert.deepEqual(portList(readListening("tcp")), portList(readListeningDiag("tcp")));
    assert.deepEqual(listeningSource(), { source: "sock_diag" });
    assert.deepEqual(portList(readListening("tcp", "/nonexistent")), []);
  });
});
