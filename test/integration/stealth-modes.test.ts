/**
 * Stealth and advanced modes end to end (spec §3-§5): the daemon runs `-stcp -sudp`, then
 * `-atcp -audp`, in the target namespace; real scanners (nmap, hping3) probe it, IPv4 and
 * IPv6. Each scan must give its classification line, a history line and a block that stops
 * the scanner; the scanner is then unblocked through the control CLI for the next scan.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import {
  type DaemonFiles,
  MAIN_JS,
  startDaemon,
  startService,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const SERVICE_PORT = 8080; // above ADVANCED_PORTS: never a trap
const LOW_SERVICE_PORT = 515; // a real service below 1024: advanced mode must leave it alone
const LATE_SERVICE_PORT = 516; // starts listening after the daemon
const EXCLUDED_PORT = 113;

const SCANS = [
  { flag: "-sS", line: "TCP SYN/Normal scan", proto: "TCP" },
  { flag: "-sT", line: "TCP SYN/Normal scan", proto: "TCP" },
  { flag: "-sF", line: "TCP FIN scan", proto: "TCP" },
  { flag: "-sN", line: "TCP NULL scan", proto: "TCP" },
  { flag: "-sX", line: "TCP XMAS scan", proto: "TCP" },
  { flag: "-sU", line: "UDP scan", proto: "UDP" },
] as const;

describe("stealth and advanced modes", { skip: rootSkip() }, () => {
  let lab: Lab;
  let scanner: ScannerHost;
  let innocent: ScannerHost;
  const cleanup: (() => Promise<void>)[] = [];

  const cli = (files: DaemonFiles, ...args: string[]) =>
    lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, ...args]);
  const canReach = async (host: ScannerHost, address: string, port = SERVICE_PORT) =>
    (await lab.exec(host, ["node", TCP_CLIENT_JS, "tcp", address, String(port), "1000"])).stdout.includes(
      "hello",
    );
  const nmap = (host: ScannerHost, family: 4 | 6, flag: string, port: number) =>
    lab.exec(
      host,
      nmapArgv({
        scan: flag,
        family,
        ports: [port],
        target: family === 6 ? lab.target.v6 : lab.target.v4,
        timeoutSec: 20,
      }),
      { timeoutMs: 30_000 },
    );
  /** Blocks outlive the daemon by design; each test starts with none. */
  const flushBlocks = () => lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
  const hping = (host: ScannerHost, args: string[]) =>
    lab.exec(host, ["timeout", "5", "hping3", "-q", "-c", "1", ...args], { timeoutMs: 10_000 });

  /** One scan: classification line, history line, blocked, then unblocked again. */
  async function scanAndCheck(
    daemon: LabProcess,
    files: DaemonFiles,
    mode: string,
    scan: (typeof SCANS)[number],
    family: 4 | 6,
    port: number,
  ): Promise<void> {
    const source = family === 6 ? scanner.v6 : scanner.v4;
    const target = family === 6 ? lab.target.v6 : lab.target.v4;
    const expected = `attackalert: ${scan.line} from host: ${source}/${source} to ${scan.proto} port: ${port}`;
    const what = `${mode} ${scan.flag} IPv${family} port ${port}`;
    await nmap(scanner, family, scan.flag, port);
    await lab.waitFor(() => daemon.stderr.includes(expected), {
      timeoutMs: 5000,
      what: `${what}: "${expected}"`,
    });
    await lab.waitFor(
      async () =>
        (await readFile(files.history, "utf8")).includes(`/${source} Port: ${port} ${scan.proto} Blocked`),
      { timeoutMs: 5000, what: `${what}: history line` },
    );
    assert.equal(await canReach(scanner, target), false, `${what}: the scanner is blocked`);
    const lifted = await cli(files, "unblock", source);
    assert.equal(lifted.code, 0, lifted.stderr);
    assert.equal(await canReach(scanner, target), true, `${what}: unblocked again`);
  }

  before(async () => {
    lab = await createLab({ name: "stealth", hosts: 2 });
    [scanner, innocent] = lab.scanners as [ScannerHost, ScannerHost];
    for (const port of [SERVICE_PORT, LOW_SERVICE_PORT]) {
      await startService(lab, lab.target, port);
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
    // Each source probes once or the budget itself is tested: the long ban at once.
    PROBATION_TIMEOUT: "0",
    MAX_BLOCKS_PER_MINUTE: "0",
    ADVANCED_PORTS_TCP: "1024",
    ADVANCED_PORTS_UDP: "1024",
    ADVANCED_EXCLUDE_TCP: String(EXCLUDED_PORT),
    ADVANCED_EXCLUDE_UDP: "137",
  };

  test("-stcp -sudp: every nmap scan type, IPv4 and IPv6, is classified, recorded and blocked", async () => {
    const files = await writeDaemonFiles({ ...base, TCP_PORTS: "1,11,143", UDP_PORTS: "1,7,9" });
    cleanup.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-stcp", "-sudp"]);
    try {
      assert.ok(daemon.stderr.includes("adminalert: Going into stealth listen mode on TCP port: 143"));
      assert.ok(daemon.stderr.includes("adminalert: Going into stealth listen mode on UDP port: 7"));
      for (const family of [4, 6] as const) {
        for (const scan of SCANS)
          await scanAndCheck(daemon, files, "-stcp", scan, family, scan.proto === "TCP" ? 143 : 7);
      }
      assert.equal(await canReach(innocent, lab.target.v4), true);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });

  test("-atcp -audp: scans of unused low ports are caught, IPv4 and IPv6", async () => {
    const files = await writeDaemonFiles({ ...base, TCP_PORTS: "1", UDP_PORTS: "1" });
    cleanup.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-atcp", "-audp"]);
    try {
      assert.ok(daemon.stderr.includes("adminalert: Advanced mode will monitor first 1024 ports"));
      assert.ok(
        daemon.stderr.includes(`adminalert: Advanced mode will manually exclude port: ${EXCLUDED_PORT}`),
      );
      assert.ok(
        daemon.stderr.includes(
          `adminalert: Advanced Stealth scan detection mode activated. Ignored TCP port: ${LOW_SERVICE_PORT}`,
        ),
      );
      for (const scan of SCANS)
        await scanAndCheck(daemon, files, "-atcp", scan, 4, scan.proto === "TCP" ? 666 : 666);
      for (const scan of [SCANS[0], SCANS[5]]) await scanAndCheck(daemon, files, "-atcp", scan, 6, 777);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });

  test("advanced mode leaves real services, excluded ports and late listeners alone", async () => {
    const files = await writeDaemonFiles({ ...base, TCP_PORTS: "1", UDP_PORTS: "1" });
    cleanup.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-atcp"]);
    try {
      await startService(lab, lab.target, LATE_SERVICE_PORT);
      // An innocent host uses the low service and the late one; a scanner probes the excluded port.
      assert.equal(await canReach(innocent, lab.target.v4, LOW_SERVICE_PORT), true);
      assert.equal(await canReach(innocent, lab.target.v4, LATE_SERVICE_PORT), true);
      await nmap(scanner, 4, "-sS", LOW_SERVICE_PORT);
      await nmap(scanner, 4, "-sS", LATE_SERVICE_PORT);
      await nmap(scanner, 4, "-sS", EXCLUDED_PORT);
      // A trap probe afterwards proves the daemon was looking: only it may appear.
      await nmap(innocent, 4, "-sS", 666);
      await lab.waitFor(
        () => daemon.stderr.includes(`from host: ${innocent.v4}/${innocent.v4} to TCP port: 666`),
        {
          timeoutMs: 5000,
          what: "the trap probe",
        },
      );
      assert.ok(!daemon.stderr.includes(`host: ${scanner.v4}/`), daemon.tail());
      assert.equal(await canReach(scanner, lab.target.v4), true);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });

  test("odd flags give the Unknown Type line; IP options give the options line", async () => {
    const files = await writeDaemonFiles({ ...base, BLOCK_TCP: "0", TCP_PORTS: "143", UDP_PORTS: "1" });
    cleanup.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-stcp"]);
    try {
      await hping(scanner, ["-S", "-U", "-p", "143", lab.target.v4]);
      const unknown = `attackalert: Unknown Type: TCP Packet Flags: SYN: 1 FIN: 0 ACK: 0 PSH: 0 URG: 1 RST: 0 from host: ${scanner.v4}/${scanner.v4} to TCP port: 143`;
      await lab.waitFor(() => daemon.stderr.includes(unknown), { timeoutMs: 5000, what: unknown });
      await hping(innocent, ["-S", "--rroute", "-p", "143", lab.target.v4]);
      const options = `attackalert: Packet from host: ${innocent.v4}/${innocent.v4} to TCP port: 143 has IP options set (detection avoidance technique).`;
      await lab.waitFor(() => daemon.stderr.includes(options), { timeoutMs: 5000, what: options });
      assert.ok(daemon.stderr.includes("attackalert: Ignoring TCP response per configuration file setting."));
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await flushBlocks();
    }
  });
});
