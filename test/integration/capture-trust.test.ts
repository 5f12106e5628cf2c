/**
 * Issue #14 through the capture path (kernel trap off), `-atcp -audp` and `-stcp -sudp`, IPv4
 * and IPv6: fragmented scans are detected with the right port and blocked; the answers to this
 * host's own NTP and DNS queries, in time and late, are not hits; a client during a service
 * restart is not banned; with DETECT_ACK_SCANS=1 nmap -sA -sW -sM are blocked, while the
 * segments of connections (ours, and to a service) never are.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type DaemonFiles,
  MAIN_JS,
  REPO_ROOT,
  startDaemon,
  startService,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const UDP_PEER_JS = join(REPO_ROOT, "dist/test/helpers/udp-peer.js");
const TINY_V6_FRAGMENTS = join(REPO_ROOT, "test/helpers/tiny-ipv6-fragments.py");
const SERVICE_PORT = 8080; // above the advanced range: never a trap
const LOW_SERVICE_PORT = 515; // a service below 1024 that restarts
const OWN_CLIENT_PORT = 700; // this host connects out from it
const ANSWER_DELAY_MS = 300;

describe("capture path: replies, restarts, fragments, ACK scans (issue #14)", { skip: rootSkip() }, () => {
  let lab: Lab;
  let scanner: ScannerHost;
  let peer: ScannerHost;
  const cleanup: (() => Promise<void>)[] = [];

  const cli = (files: DaemonFiles, ...args: string[]) =>
    lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, ...args]);
  const canReach = async (host: ScannerHost, address: string, port = SERVICE_PORT) =>
    (await lab.exec(host, ["node", TCP_CLIENT_JS, "tcp", address, String(port), "1500"])).stdout.includes(
      "hello",
    );
  const targetOf = (family: 4 | 6) => (family === 6 ? lab.target.v6 : lab.target.v4);
  /** nmap does not fragment IPv6: a TCP probe in `chunk`-byte fragments from the scanner. */
  const tinyV6 = (port: number, flags: number, chunk: number) => () =>
    lab.execOk(scanner, [
      "python3",
      TINY_V6_FRAGMENTS,
      scanner.v6,
      lab.target.v6,
      String(port),
      String(flags),
      String(chunk),
    ]);
  const flushBlocks = () => lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
  const alertsFrom = (daemon: LabProcess, host: ScannerHost) =>
    daemon.stderr
      .split("\n")
      .filter((l) => l.includes("attackalert") && (l.includes(`${host.v4}/`) || l.includes(`${host.v6}/`)));

  /** nmap `flag` (and `extra`) at `port`, or `send` instead: the line `name` appears, the scanner is blocked, then unblocked. */
  async function scanBlocked(
    daemon: LabProcess,
    files: DaemonFiles,
    o: {
      flag: string;
      extra?: string[];
      family: 4 | 6;
      port: number;
      name: string;
      send?: () => Promise<unknown>;
    },
  ): Promise<void> {
    const source = o.family === 6 ? scanner.v6 : scanner.v4;
    const expected = `attackalert: ${o.name} from host: ${source}/${source} to TCP port: ${o.port}`;
    const what = `${o.flag} ${(o.extra ?? []).join(" ")} IPv${o.family} port ${o.port}`;
    const nmap = () =>
      lab.exec(
        scanner,
        nmapArgv({
          scan: o.flag,
          family: o.family,
          ports: [o.port],
          target: targetOf(o.family),
          timeoutSec: 20,
          extra: o.extra,
        }),
        { timeoutMs: 30_000 },
      );
    await (o.send ?? nmap)();
    await lab.waitFor(() => daemon.stderr.includes(expected), {
      timeoutMs: 5000,
      what: `${what}: "${expected}" in ${daemon.tail()}`,
    });
    await lab.waitFor(
      async () => (await readFile(files.history, "utf8")).includes(`/${source} Port: ${o.port} TCP Blocked`),
      {
        timeoutMs: 5000,
        what: `${what}: history line in ${await readFile(files.history, "utf8").catch(() => "")} ${daemon.tail(1500)}`,
      },
    );
    assert.equal(await canReach(scanner, targetOf(o.family)), false, `${what}: the scanner is blocked`);
    assert.equal((await cli(files, "unblock", source)).code, 0);
    assert.equal(await canReach(scanner, targetOf(o.family)), true, `${what}: unblocked again`);
  }

  /** This host's NTP and DNS clients against the peer: in time and late, both families. */
  async function ownQueries(family: 4 | 6): Promise<void> {
    const server = family === 6 ? peer.v6 : peer.v4;
    const query = (port: number, local: number, waitMs: number) =>
      lab.exec(lab.target, [
        "node",
        UDP_PEER_JS,
        "query",
        server,
        String(port),
        String(local),
        String(waitMs),
      ]);
    // NTP: the client reads the answer and closes at once; then one whose answer comes late.
    assert.match((await query(123, 123, 2000)).stdout, /REPLY/, "the NTP answer came in time");
    assert.match((await query(123, 123, 0)).stdout, /SENT/);
    // DNS from port 53 and from a port below 1024, answered after the client left.
    assert.match((await query(53, 53, 0)).stdout, /SENT/);
    assert.match((await query(53, 900, 0)).stdout, /SENT/);
    // Let the late answers arrive (and be refused by the kernel).
    await new Promise((r) => setTimeout(r, ANSWER_DELAY_MS * 3));
  }

  /** A probe the daemon must see, so that "nothing from the peer" means something; then unblocked. */
  async function proveLooking(daemon: LabProcess, files: DaemonFiles, port: number): Promise<void> {
    await lab.exec(
      scanner,
      nmapArgv({ scan: "-sU", family: 4, ports: [port], target: lab.target.v4, timeoutSec: 20 }),
      {
        timeoutMs: 30_000,
      },
    );
    const line = `from host: ${scanner.v4}/${scanner.v4} to UDP port: ${port}`;
    await lab.waitFor(() => daemon.stderr.includes(line), { timeoutMs: 5000, what: line });
    const blocked = `Host ${scanner.v4} has been blocked`;
    await lab.waitFor(() => daemon.stderr.includes(blocked), { timeoutMs: 5000, what: blocked });
    assert.equal((await cli(files, "unblock", scanner.v4)).code, 0);
  }

  before(async () => {
    lab = await createLab({ name: "trust", hosts: 2 });
    [scanner, peer] = lab.scanners as [ScannerHost, ScannerHost];
    await startService(lab, lab.target, SERVICE_PORT);
    await startService(lab, peer, SERVICE_PORT);
    for (const port of [123, 53]) {
      const answer = lab.spawn(peer, ["node", UDP_PEER_JS, "answer", String(port), String(ANSWER_DELAY_MS)]);
      await lab.waitForOutput(answer, "READY", 10_000);
    }
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  const base = {
    BLOCK_TCP: "1",
    BLOCK_UDP: "1",
    KILL_FIREWALL: "nftables",
    // Each case probes once and checks the long ban (probation: probation-budget.test.ts).
    PROBATION_TIMEOUT: "0",
    MAX_BLOCKS_PER_MINUTE: "0",
    ADVANCED_PORTS_TCP: "1024",
    ADVANCED_PORTS_UDP: "1024",
    DETECT_ACK_SCANS: "1",
  };

  test("-atcp -audp: replies, a restart and our own connection are no hits; fragments and ACK scans are", async () => {
    const files = await writeDaemonFiles({ ...base, TCP_PORTS: "1", UDP_PORTS: "1" });
    cleanup.push(files.remove);
    let service = await startService(lab, lab.target, LOW_SERVICE_PORT);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-atcp", "-audp"]);
    try {
      // Replies to our own queries.
      await ownQueries(4);
      await ownQueries(6);
      // A service restart: the client tries while it is down (RST), then again once it is back.
      service.kill("SIGTERM");
      await service.exited;
      for (const family of [4, 6] as const) {
        assert.equal(await canReach(peer, targetOf(family), LOW_SERVICE_PORT), false, "down");
      }
      service = await startService(lab, lab.target, LOW_SERVICE_PORT);
      assert.equal(await canReach(peer, targetOf(6), LOW_SERVICE_PORT), true, "back");
      // Our own connection out from a low port: the peer's segments come back to it.
      const out = await lab.exec(lab.target, [
        "node",
        "-e",
        `const s = require("net").connect({ host: "${peer.v4}", port: ${SERVICE_PORT}, localPort: ${OWN_CLIENT_PORT} }); s.on("data", (d) => process.stdout.write(d)); s.on("error", (e) => { console.log(e.code); process.exit(1); });`,
      ]);
      assert.match(out.stdout, /hello/, out.stderr);
      await proveLooking(daemon, files, 666);
      assert.deepEqual(alertsFrom(daemon, peer), [], daemon.tail(2000));
      assert.equal(await canReach(peer, lab.target.v4), true, "the peer is not blocked");

      // Fragmented scans: the right port, classified, blocked.
      await scanBlocked(daemon, files, {
        flag: "-sS",
        extra: ["-f"],
        family: 4,
        port: 670,
        name: "TCP SYN/Normal scan",
      });
      await scanBlocked(daemon, files, {
        flag: "-sS",
        extra: ["--mtu", "8"],
        family: 4,
        port: 671,
        name: "TCP SYN/Normal scan",
      });
      await scanBlocked(daemon, files, {
        flag: "-sF",
        extra: ["-ff"],
        family: 4,
        port: 672,
        name: "TCP FIN scan",
      });
      await scanBlocked(daemon, files, {
        flag: "tiny IPv6 fragments",
        family: 6,
        port: 673,
        name: "TCP SYN/Normal scan",
        send: tinyV6(673, 0x02, 8),
      });
      // ACK, Window and Maimon scans with DETECT_ACK_SCANS=1.
      await scanBlocked(daemon, files, { flag: "-sA", family: 4, port: 680, name: "TCP ACK scan" });
      await scanBlocked(daemon, files, { flag: "-sW", family: 4, port: 681, name: "TCP ACK scan" });
      await scanBlocked(daemon, files, { flag: "-sM", family: 4, port: 682, name: "TCP Maimon scan" });
      await scanBlocked(daemon, files, { flag: "-sA", family: 6, port: 683, name: "TCP ACK scan" });
      assert.deepEqual(alertsFrom(daemon, peer), [], daemon.tail(2000));
    } finally {
      service.kill("SIGTERM");
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });

  test("-stcp -sudp: replies to watched ports are no hits; fragments and ACK scans are", async () => {
    const files = await writeDaemonFiles({ ...base, TCP_PORTS: "1,11,143", UDP_PORTS: "7,53,123,666,900" });
    cleanup.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-stcp", "-sudp"]);
    try {
      await ownQueries(4);
      await ownQueries(6);
      await proveLooking(daemon, files, 666);
      assert.deepEqual(alertsFrom(daemon, peer), [], daemon.tail(2000));
      await scanBlocked(daemon, files, {
        flag: "-sS",
        extra: ["-f"],
        family: 4,
        port: 143,
        name: "TCP SYN/Normal scan",
      });
      await scanBlocked(daemon, files, {
        flag: "16-byte IPv6 fragments",
        family: 6,
        port: 11,
        name: "TCP NULL scan",
        send: tinyV6(11, 0, 16),
      });
      await scanBlocked(daemon, files, { flag: "-sA", family: 6, port: 1, name: "TCP ACK scan" });
      await scanBlocked(daemon, files, { flag: "-sM", family: 4, port: 143, name: "TCP Maimon scan" });
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });
});
