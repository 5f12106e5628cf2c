/** Listening ports from /proc/net (sample text and the real files) and the rate-bounded table. */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { emptyPorts, portBitmap, portList } from "../../../src/port-set.js";
import {
  ListenerTable,
  type ListenProto,
  listeningPorts,
  parseProcNet,
  readListening,
  readListeningAsync,
} from "../../../src/sensors/listening.js";

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 100 0 0 10 0
   2: 0102000A:0016 0202000A:D431 01 00000000:00000000 02:000A7A3B 00000000     0        0 1236 4 0000000000000000 20 4 30 10 -1
   3: 0102000A:1F90 0202000A:D432 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2234 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2235 1 0000000000000000 20 4 30 10 -1
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3234 2 0000000000000000 0
  101: 0102000A:E1A5 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 3235 2 0000000000000000 0
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 200: 000080FE00000000FF0DB1FE8E5A8BFE:0222 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4234 2 0000000000000000 0
`;

describe("parseProcNet", () => {
  test("TCP: LISTEN lines only, IPv4 and IPv6", () => {
    const b = emptyPorts();
    assert.equal(parseProcNet(TCP, "tcp", b), 0);
    assert.equal(parseProcNet(TCP6, "tcp", b), 0);
    // 22 and 25 listen (25 on 127.0.0.1 still counts), 443 on [::]; 22 ESTABLISHED, 8080 TIME_WAIT do not add.
    assert.deepEqual(portList(b), [22, 25, 443]);
  });

  test("UDP: bound (state 07) sockets only", () => {
    const b = emptyPorts();
    parseProcNet(UDP, "udp", b);
    parseProcNet(UDP6, "udp", b);
    assert.deepEqual(portList(b), [68, 546]);
  });

  test("malformed lines are counted, never thrown", () => {
    const b = emptyPorts();
    const bad = `${TCP}   9: garbage\n  10: 00000000:ZZZZ 00000000:0000 0A x\n\n`;
    assert.equal(parseProcNet(bad, "tcp", b), 2);
    assert.deepEqual(portList(b), [22, 25]);
    assert.equal(parseProcNet("", "tcp", b), 0);
    assert.equal(parseProcNet("only a header", "tcp", b), 0);
  });

  test("the real files parse without a bad line", () => {
    for (const [proto, files] of [
      ["tcp", ["/proc/net/tcp", "/proc/net/tcp6"]],
      ["udp", ["/proc/net/udp", "/proc/net/udp6"]],
    ] as const) {
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, "latin1");
        } catch {
          continue;
        }
        assert.ok(text.length > 0, file);
        assert.equal(parseProcNet(text, proto, emptyPorts()), 0, file);
      }
    }
  });
});

describe("readListening on this host", () => {
  test("a TCP listener and a bound UDP socket show up, and go away", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const tcpPort = (server.address() as { port: number }).port;
    const udp = createSocket("udp6");
    udp.bind(0, "::1");
    await once(udp, "listening");
    const udpPort = udp.address().port;
    try {
      assert.equal(readListening("tcp")[tcpPort], 1);
      assert.equal((await readListeningAsync("tcp"))[tcpPort], 1);
      assert.equal(readListening("udp")[udpPort], 1);
      const sets = listeningPorts();
      assert.ok(sets.tcp.has(tcpPort) && sets.udp.has(udpPort));
    } finally {
      server.close();
      udp.close();
    }
    await once(server, "close");
    assert.equal(readListening("tcp")[tcpPort], 0);
  });

  test("a missing /proc counts as no listener", () => {
    assert.deepEqual(portList(readListening("tcp", "/nonexistent")), []);
  });
});

describe("ListenerTable", () => {
  test("records when a read began and bounds the re-read rate by its cost", async () => {
    let now = 100;
    let reads = 0;
    const table = new ListenerTable({
      monoMs: () => now,
      minIntervalMs: 10,
      costFactor: 20,
      read: async (proto: ListenProto) => {
        reads++;
        now += 3; // each read "costs" 3 ms
        return portBitmap(proto === "tcp" ? [22] : [53]);
      },
    });
    assert.equal(table.snapshotMs("tcp"), -Infinity);
    const a = table.refresh("tcp");
    const b = table.refresh("tcp"); // joins the read in flight
    assert.equal(table.inFlight("tcp")?.startMs, 100);
    await Promise.all([a, b]);
    assert.equal(reads, 1);
    assert.equal(table.snapshotMs("tcp"), 100);
    assert.equal(table.has("tcp", 22), true);
    assert.equal(table.has("tcp", 23), false);
    assert.equal(table.nextReadAllowedMs("tcp"), 100 + 10); // the burst credit covers it
    assert.equal(table.inFlight("tcp"), undefined);
  });

  test("a burst of reads waits only the floor; then reads settle at costFactor × cost", async () => {
    let now = 0;
    const table = new ListenerTable({
      monoMs: () => now,
      minIntervalMs: 10,
      costFactor: 20,
      burstMs: 9,
      maxIntervalMs: 1000,
      read: async () => {
        now += 3; // each read "costs" 3 ms
        return portBitmap([]);
      },
    });
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) {
      now = Math.max(now, table.nextReadAllowedMs("tcp"));
      const start = now;
      await table.refresh("tcp");
      gaps.push(table.nextReadAllowedMs("tcp") - start);
    }
    // 9 ms of credit: three reads of 3 ms at the floor, then each waits for its cost × 20
    // (minus what the waiting itself earned back), never less than the floor.
    assert.deepEqual(gaps.slice(0, 3), [10, 10, 10]);
    for (const gap of gaps.slice(4)) assert.ok(gap >= 55 && gap <= 61, `gap ${gap}`);
    // Over the whole run, reading took at most 1/costFactor of the time, plus the burst.
    assert.ok(8 * 3 <= (now + 3) / 20 + 9 + 3, `${8 * 3} ms of reads in ${now} ms`);
  });

  test("a costly read never holds the next one back longer than maxIntervalMs", async () => {
    let now = 0;
    const table = new ListenerTable({
      monoMs: () => now,
      burstMs: 0,
      maxIntervalMs: 250,
      read: async () => {
        now += 40; // 20 × 40 ms would be 800 ms
        return portBitmap([]);
      },
    });
    await table.refresh("tcp");
    assert.equal(table.nextReadAllowedMs("tcp"), 250);
  });

  test("a failing read keeps the last facts", async () => {
    let fail = false;
    const table = new ListenerTable({
      monoMs: () => 0,
      read: () => {
        if (fail) throw new Error("EIO");
        return portBitmap([80]);
      },
    });
    table.refreshSync("tcp");
    fail = true;
    await table.refresh("tcp");
    assert.equal(table.has("tcp", 80), true);
  });
});
