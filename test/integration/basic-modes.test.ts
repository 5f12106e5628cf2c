/**
 * Basic modes end to end (spec §3-§7): the daemon runs `-tcp -udp` in the target namespace;
 * real clients trip it from scanner namespaces; the block must really stop the scanner while
 * an innocent host still reaches a real service. One lab and one daemon for the whole file.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import {
  type DaemonFiles,
  startDaemon,
  startService,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const TRAPS_TCP = [1, 11, 143, 2000, 31337];
const TRAPS_UDP = [1, 7, 31337];
const BUSY_PORT = 2000; // a real service holds it before the daemon starts
const SERVICE_PORT = 8080;
const BANNER = "** UNAUTHORIZED ACCESS PROHIBITED **";
const TRIGGER = 3;
/** fail2ban's stock filter.d/portsentry.conf failregex with <HOST> expanded. */
const FAIL2BAN = /\/(?<host>(?:::f{4,6}:)?[\w\-.^_:]*\w) Port: [0-9]+ (TCP|UDP) Blocked$/;

describe("basic modes -tcp -udp", { skip: rootSkip() }, () => {
  let lab: Lab;
  let files: DaemonFiles;
  let daemon: LabProcess;
  // Roles: each scanner namespace plays one part.
  let nmap4: ScannerHost;
  let nmap6: ScannerHost;
  let banner: ScannerHost;
  let udp: ScannerHost;
  let innocent: ScannerHost;
  let ignored: ScannerHost;

  const client = (host: ScannerHost, proto: "tcp" | "udp", address: string, port: number, timeoutMs = 2000) =>
    lab.exec(host, ["node", TCP_CLIENT_JS, proto, address, String(port), String(timeoutMs)], {
      timeoutMs: 10_000,
    });
  const canReachService = async (host: ScannerHost, address: string) =>
    (await client(host, "tcp", address, SERVICE_PORT, 3000)).stdout.includes('DATA "hello\\n"');
  const log = () => daemon.stderr;
  const nftSet = async (set: string) => {
    const r = await lab.execOk(lab.target, ["nft", "-j", "list", "set", "inet", "portsentry", set]);
    return r.stdout;
  };

  before(async () => {
    lab = await createLab({ name: "basic", hosts: 6 });
    [nmap4, nmap6, banner, udp, innocent, ignored] = lab.scanners as [
      ScannerHost,
      ScannerHost,
      ScannerHost,
      ScannerHost,
      ScannerHost,
      ScannerHost,
    ];
    files = await writeDaemonFiles(
      {
        TCP_PORTS: TRAPS_TCP.join(","),
        UDP_PORTS: TRAPS_UDP.join(","),
        BLOCK_TCP: "1",
        BLOCK_UDP: "1",
        KILL_FIREWALL: "nftables",
        KILL_HOSTS_DENY: "ALL: $TARGET$",
        SCAN_TRIGGER: String(TRIGGER),
        PORT_BANNER: BANNER,
      },
      [`${ignored.v4} # trailing comment`, `${ignored.v6}/128`],
    );
    for (const port of [SERVICE_PORT, BUSY_PORT]) {
      await startService(lab, lab.target, port);
    }
    daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp", "-udp"]);
  });

  after(async () => {
    await lab?.destroy();
    await files?.remove();
  });

  test("start-up lines, and a port in use is skipped with the 1.2 line", () => {
    assert.match(log(), /adminalert: PortSentry \S+ is starting\./);
    for (const p of TRAPS_TCP.filter((p) => p !== BUSY_PORT)) {
      assert.ok(log().includes(`adminalert: Going into listen mode on TCP port: ${p}\n`), `TCP ${p}`);
    }
    for (const p of TRAPS_UDP)
      assert.ok(log().includes(`adminalert: Going into listen mode on UDP port: ${p}\n`));
    assert.ok(
      log().includes(`adminalert: ERROR: could not bind TCP socket: ${BUSY_PORT}. Attempting to continue`),
    );
  });

  test("before any scan every scanner reaches the real service", async () => {
    for (const s of [nmap4, nmap6, innocent]) assert.ok(await canReachService(s, lab.target.v4), s.v4);
  });

  test("nmap -sT (IPv4): every connection attributed, the third triggers the block", async () => {
    const ports = [1, 11, 143];
    await lab.exec(nmap4, nmapArgv({ scan: "-sT", family: 4, ports, target: lab.target.v4 }));
    for (const p of ports) {
      await lab.waitFor(
        () => log().includes(`attackalert: Connect from host: ${nmap4.v4}/${nmap4.v4} to TCP port: ${p}\n`),
        {
          timeoutMs: 5000,
          what: `connect line for port ${p}`,
        },
      );
    }
    await lab.waitForFileContains(files.history, `/${nmap4.v4} Port: `, 5000);
    assert.ok(log().includes(`attackalert: Host ${nmap4.v4} has been blocked via nftables`));
    assert.ok(
      log().includes(
        `attackalert: Host ${nmap4.v4} has been blocked via wrappers with string: "ALL: ${nmap4.v4}"`,
      ),
    );
    assert.doesNotMatch(log(), /Connect from host: undefined/);
  });

  test("the blocked IPv4 scanner can no longer reach the service; an innocent host still can", async () => {
    assert.match(await nftSet("blocked4"), new RegExp(`"${nmap4.v4.replaceAll(".", "\\.")}"`));
    assert.equal(await canReachService(nmap4, lab.target.v4), false);
    assert.equal(await canReachService(innocent, lab.target.v4), true);
  });

  test("nmap -6 -sT: attributed to the IPv6 source and blocked in the IPv6 set", async () => {
    await lab.exec(nmap6, nmapArgv({ scan: "-sT", family: 6, ports: [1, 11, 143], target: lab.target.v6 }));
    await lab.waitFor(() => log().includes(`attackalert: Host ${nmap6.v6} has been blocked via nftables`), {
      timeoutMs: 5000,
      what: "IPv6 block",
    });
    for (const p of [1, 11, 143]) {
      assert.ok(
        log().includes(`attackalert: Connect from host: ${nmap6.v6}/${nmap6.v6} to TCP port: ${p}\n`),
      );
    }
    assert.ok(log().includes(`has been blocked via wrappers with string: "ALL: [${nmap6.v6}]"`));
    assert.match(await nftSet("blocked6"), new RegExp(`"${nmap6.v6}"`));
    assert.equal(await canReachService(nmap6, lab.target.v6), false);
    assert.equal(await canReachService(innocent, lab.target.v6), true);
  });

  test("a plain client reads PORT_BANNER when the trigger fires", async () => {
    const replies: string[] = [];
    for (let i = 0; i < TRIGGER; i++)
      replies.push((await client(banner, "tcp", lab.target.v4, 31337)).stdout);
    assert.deepEqual(
      replies.map((r) => r.includes(BANNER)),
      [false, false, true],
    );
  });

  test("UDP probes: attributed, banner datagram back on the trigger, blocked", async () => {
    const replies: string[] = [];
    for (let i = 0; i < TRIGGER; i++) replies.push((await client(udp, "udp", lab.target.v4, 7, 3000)).stdout);
    assert.ok(replies[TRIGGER - 1]?.includes(BANNER), replies.join("|"));
    await lab.waitFor(() => log().includes(`attackalert: Host ${udp.v4} has been blocked via nftables`), {
      timeoutMs: 5000,
      what: "UDP block",
    });
    assert.ok(log().includes(`attackalert: Connect from host: ${udp.v4}/${udp.v4} to UDP port: 7\n`));
    await lab.waitForFileContains(
      files.history,
      new RegExp(`/${udp.v4.replaceAll(".", "\\.")} Port: 7 UDP Blocked`),
      5000,
    );
  });

  test("ignored hosts and the host's own addresses are never acted on", async () => {
    for (let i = 0; i < TRIGGER + 1; i++) {
      await client(ignored, "tcp", lab.target.v4, 143);
      await client(ignored, "tcp", lab.target.v6, 143);
    }
    // The target connecting to itself through its own (non-loopback) address.
    for (let i = 0; i < TRIGGER + 1; i++) {
      await lab.exec(lab.target, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, "143", "1000"]);
    }
    assert.equal(await canReachService(ignored, lab.target.v4), true);
    for (const a of [ignored.v4, ignored.v6, lab.target.v4]) {
      assert.ok(!log().includes(`host: ${a}/`), `no attackalert for ${a}`);
    }
  });

  test("history lines match fail2ban's regex; blocked files hold exactly the blocked hosts", async () => {
    await lab.waitFor(async () => (await readFile(files.history, "utf8")).trim().split("\n").length >= 4, {
      timeoutMs: 5000,
      what: "four history lines",
    });
    const lines = (await readFile(files.history, "utf8")).trim().split("\n");
    const hosts = lines.map((l) => FAIL2BAN.exec(l)?.groups?.host);
    assert.deepEqual(new Set(hosts), new Set([nmap4.v4, nmap6.v6, banner.v4, udp.v4]));
    const tcpBlocked = await readFile(`${files.blocked}.tcp`, "utf8");
    const udpBlocked = await readFile(`${files.blocked}.udp`, "utf8");
    assert.equal(tcpBlocked.trim().split("\n").length, 3);
    assert.match(udpBlocked, new RegExp(`/${udp.v4.replaceAll(".", "\\.")} Port: 7 UDP Blocked`));
    const denied = (await readFile(files.hostsDeny, "utf8")).trim().split("\n").sort();
    assert.deepEqual(denied, [nmap4.v4, `[${nmap6.v6}]`, banner.v4, udp.v4].map((h) => `ALL: ${h}`).sort());
  });

  test("each host was blocked exactly once", () => {
    for (const h of [nmap4.v4, nmap6.v6, banner.v4, udp.v4]) {
      const count = log().split(`attackalert: Host ${h} has been blocked via nftables`).length - 1;
      assert.equal(count, 1, h);
    }
  });

  test("SIGTERM: the shutdown lines and exit status 0; blocks stay in force", async () => {
    daemon.kill("SIGTERM");
    const status = await daemon.exited;
    assert.equal(status.code, 0, daemon.tail());
    assert.ok(log().includes("securityalert: PortSentry is shutting down"));
    assert.ok(log().includes("adminalert: PortSentry is shutting down"));
    assert.equal(await canReachService(nmap4, lab.target.v4), false);
  });
});
