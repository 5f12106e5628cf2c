/**
 * KERNEL_TRAP="1" through the real daemon (spec §2, §6): a -T5 SYN scan gets no answer after
 * the first trap probe, and the kernel's block is recorded like any other (history, blocked
 * file, the ban's own timeout in the set, status counters); stopping the daemon removes the
 * trap and keeps the block; a kill -9 leaves the trap armed, and the blocks it makes meanwhile
 * are recorded at the next start. Skipped while the daemon does not wire the kernel trap.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { candidatePorts } from "../../src/port-set.js";
import { testConfig } from "../helpers/config.js";
import { type DaemonFiles, MAIN_JS, READY, TCP_CLIENT_JS, writeDaemonFiles } from "../helpers/daemon.js";
import { countProbeAnswers } from "../helpers/probe-answers.js";
import { startRecording, stopRecording } from "../helpers/recording.js";
import { fastNmapScan } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip } from "../netns/netns.js";

const SERVICE_JS = `require("net").createServer(c=>c.end("hello\\n")).listen({port:Number(process.argv[1]),host:"::"},()=>console.log("LISTENING"));`;
const NOT_WIRED = "KERNEL_TRAP is not available in this version";

describe("kernel trap in the daemon", { skip: rootSkip() }, () => {
  let lab: Lab;
  let files: DaemonFiles;

  before(async () => {
    lab = await createLab({ name: "psktd", hosts: 3 });
    files = await writeDaemonFiles({
      KILL_FIREWALL: "nftables",
      // The kernel blocks the first probe for BLOCK_TIMEOUT (probation: probation-budget.test.ts).
      PROBATION_TIMEOUT: "0",
      KERNEL_TRAP: "1",
      BLOCK_TCP: "1",
      BLOCK_UDP: "0",
      BLOCK_TIMEOUT: "3600",
      BLOCK_TIMEOUT_GROWTH: "2",
    });
  });
  after(async () => {
    await lab?.destroy();
    await files?.remove();
  });

  const startDaemon = async (): Promise<LabProcess | undefined> => {
    const daemon = lab.spawn(lab.target, ["node", MAIN_JS, "-c", files.conf, "-atcp"]);
    await lab.waitForOutput(daemon, new RegExp(`${READY}|ERROR`), 20_000, "stderr");
    assert.match(daemon.stderr, new RegExp(READY), daemon.tail());
    if (daemon.stderr.includes(NOT_WIRED)) {
      await daemon.stop();
      return undefined;
    }
    return daemon;
  };
  const nftTable = async () =>
    (await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout;

  test("a -T5 SYN scan: no answer after the first trap probe; the kernel's block recorded everywhere", async (t) => {
    const daemon = await startDaemon();
    if (daemon === undefined) {
      t.skip("the daemon does not wire KERNEL_TRAP yet");
      return;
    }
    const scanner = lab.scanner(1);
    assert.match(daemon.stderr, /Kernel trap for atcp/);
    assert.match(await nftTable(), /chain trap \{/);
    const pcapFile = join(files.dir, "scan.pcap");
    const dump = await startRecording(lab, lab.target, lab.target.iface, pcapFile, {
      filter: ["host", scanner.v4],
    });
    await lab.exec(scanner, fastNmapScan("-sS", 4, lab.target.v4), { timeoutMs: 90_000 });
    await stopRecording(dump);
    const traps = candidatePorts("atcp", testConfig("/x"));
    const count = countProbeAnswers(
      new Uint8Array(await readFile(pcapFile)),
      lab.target.v4,
      scanner.v4,
      (proto, port) => proto === 6 && traps[port] === 1,
    );
    assert.equal(count.answersAfterTrap, 0, JSON.stringify(count));
    await lab.waitForFileContains(files.history, `Host: ${scanner.v4}/${scanner.v4} Port: `, 10_000);
    await lab.waitForFileContains(`${files.blocked}.atcp`, scanner.v4, 5_000);
    // The daemon set the ban's own timeout (3600 s) on the kernel's element.
    const set = (await lab.execOk(lab.target, ["nft", "-j", "list", "set", "inet", "portsentry", "blocked4"]))
      .stdout;
    assert.match(set, new RegExp(`"val": "${scanner.v4}", "timeout": 3600`));
    const status = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "status", "--json"]);
    assert.match(status.stdout, /"kernelTrapHits": ?1/);
    // One probe, one hit: the capture does not watch the kernel's ports as well.
    assert.match(status.stdout, /"hits": ?1\b/, status.stdout);
    const alerts = daemon.stderr
      .split("\n")
      .filter((l) => l.includes(`attackalert:`) && l.includes(`from host: ${scanner.v4}/`));
    assert.equal(alerts.length, 1, daemon.tail());
    // Logged with its classification, and listed by `portsentry blocked`.
    assert.ok(
      daemon.stderr.includes(
        `attackalert: TCP SYN/Normal scan from host: ${scanner.v4}/${scanner.v4} to TCP port: `,
      ),
      daemon.tail(),
    );
    const blocked = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "blocked", "--json"]);
    assert.match(
      blocked.stdout,
      new RegExp(`"address":"${scanner.v4.replaceAll(".", "\\.")}","mode":"atcp"`),
    );
    // Stop: the trap goes, the block stays.
    daemon.kill("SIGTERM");
    await daemon.exited;
    const table = await nftTable();
    assert.doesNotMatch(table, /chain trap \{/);
    assert.match(table, new RegExp(scanner.v4.replaceAll(".", "\\.")));
  });

  test("kill -9 leaves the trap armed; its blocks are recorded at the next start", async (t) => {
    const daemon = await startDaemon();
    if (daemon === undefined) {
      t.skip("the daemon does not wire KERNEL_TRAP yet");
      return;
    }
    const late = lab.scanner(2);
    daemon.kill("SIGKILL");
    await daemon.exited;
    await lab.exec(late, ["timeout", "5", "hping3", "-c", "1", "-S", "-p", "22", lab.target.v4]);
    const set = (await lab.execOk(lab.target, ["nft", "list", "set", "inet", "portsentry", "blocked4"]))
      .stdout;
    assert.match(set, new RegExp(late.v4.replaceAll(".", "\\.")), "blocked by the kernel while nobody read");
    const again = await startDaemon();
    assert.ok(again);
    await lab.waitForFileContains(files.history, `Host: ${late.v4}/${late.v4} Port: 0 TCP Blocked`, 10_000);
    again.kill("SIGTERM");
    await again.exited;
  });

  test("LISTEN_GRACE: a service that listened at start, unused, restarts; a client meanwhile is not banned", async (t) => {
    const client = lab.scanner(3);
    const port = 79;
    const service = lab.spawn(lab.target, ["node", "-e", SERVICE_JS, String(port)]);
    await lab.waitForOutput(service, /LISTENING/, 5_000);
    const daemon = await startDaemon();
    if (daemon === undefined) {
      await service.stop(3000);
      t.skip("the daemon does not wire KERNEL_TRAP yet");
      return;
    }
    try {
      // The daemon's feed: no packet has reached the service yet.
      const grace = await lab.execOk(lab.target, [
        "nft",
        "list",
        "set",
        "inet",
        "portsentry",
        "grace_tcp_ports",
      ]);
      assert.match(grace.stdout, new RegExp(`elements = \\{[^}]*\\b${port} timeout`), grace.stdout);
      await service.stop(3000);
      const r = await lab.exec(client, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, String(port), "1000"]);
      assert.doesNotMatch(r.stdout, /hello/);
      const set = await lab.execOk(lab.target, ["nft", "list", "set", "inet", "portsentry", "blocked4"]);
      assert.doesNotMatch(set.stdout, new RegExp(client.v4.replaceAll(".", "\\.")));
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  });
});
