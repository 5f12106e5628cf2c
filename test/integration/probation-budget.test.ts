/**
 * A budget the attacker cannot spend (#14, PROBATION_TIMEOUT at its default, the shipped
 * blocking setup, `-atcp`), with the kernel trap off and on: 70 SYNs forged from as many
 * sources (and 10 IPv6 ones), then 20 forged a second while a real `nmap -sS` scans the trap
 * ports. The real scanner is stopped within a second of its first probe and then banned for
 * good (history, blocked set with BLOCK_TIMEOUT); no forged source is banned longer than the
 * probation (each is in the probation sets with at most its timeout, none in the blocked sets or
 * the history); a probe is counted once. The forged frames are written raw onto the forger's
 * link (test/helpers/raw-frames.ts); nothing leaves the lab.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DaemonFiles, MAIN_JS, READY, writeDaemonFiles } from "../helpers/daemon.js";
import { blockedSet, setElements } from "../helpers/nft-sets.js";
import { countProbeAnswers } from "../helpers/probe-answers.js";
import { hex, linkMac, SEND_RAW_PACED_PY, SEND_RAW_PY, synFrame } from "../helpers/raw-frames.js";
import { startRecording, stopRecording } from "../helpers/recording.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const TRAP_PORT = 143;
const PROBATION_SEC = 600;
/** Forged sources: documentation addresses no lab host owns. */
const FIRST4 = Array.from({ length: 70 }, (_, i) => `198.51.100.${i + 1}`);
const FIRST6 = Array.from({ length: 10 }, (_, i) => `2001:db8:ff::${i + 1}`);
/** 20 a second for 8 s, while the scan runs. */
const DURING4 = Array.from({ length: 160 }, (_, i) => `203.0.113.${i + 1}`);
const FORGED = [...FIRST4, ...FIRST6, ...DURING4];

describe("probation: a forged flood cannot spend the block budget", { skip: rootSkip() }, () => {
  let lab: Lab;
  let forger: ScannerHost;
  let scanner: ScannerHost;
  let targetMac: string;
  let forgerMac: string;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    lab = await createLab({ name: "psprob", hosts: 2 });
    forger = lab.scanner(1);
    scanner = lab.scanner(2);
    targetMac = await linkMac(lab, lab.target, lab.target.iface);
    forgerMac = await linkMac(lab, forger, forger.iface);
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  const frames = (sources: readonly string[]) =>
    sources.map((src) =>
      hex(synFrame(targetMac, forgerMac, src, src.includes(":") ? lab.target.v6 : lab.target.v4, TRAP_PORT)),
    );
  const probationSet = (family: 4 | 6) => setElements(lab, lab.target, `probation${family}`);
  const status = async (conf: string): Promise<Record<string, number>> => {
    const r = await lab.execOk(lab.target, ["node", MAIN_JS, "-c", conf, "status", "--json"]);
    return (JSON.parse(r.stdout) as { result: { counters: Record<string, number> } }).result.counters;
  };

  for (const kernelTrap of ["0", "1"] as const) {
    test(`KERNEL_TRAP="${kernelTrap}": the scanner is stopped at once and banned; forged sources only on probation`, async () => {
      const files: DaemonFiles = await writeDaemonFiles({
        BLOCK_TCP: "1",
        BLOCK_UDP: "0",
        KILL_FIREWALL: "nftables",
        KERNEL_TRAP: kernelTrap,
        SCAN_TRIGGER: "0",
        BLOCK_TIMEOUT: "1d",
        MAX_BLOCKS_PER_MINUTE: "60",
        // PROBATION_TIMEOUT absent: its default (10m) is what is tested.
      });
      cleanup.push(files.remove);
      const daemon: LabProcess = lab.spawn(lab.target, ["node", MAIN_JS, "-c", files.conf, "-atcp"]);
      try {
        await lab.waitForOutput(daemon, READY, 20_000);
        if (kernelTrap === "1") assert.match(daemon.stderr, /Kernel trap for atcp/, daemon.tail());
        await lab.execOk(forger, [
          "python3",
          "-c",
          SEND_RAW_PY,
          forger.iface,
          ...frames([...FIRST4, ...FIRST6]),
        ]);
        // Every one of them is on probation before the scan starts.
        await lab.waitFor(async () => (await probationSet(4)).length >= FIRST4.length, {
          timeoutMs: 10_000,
          what: "the first 70 forged sources on probation",
        });
        const pcapFile = join(files.dir, "scan.pcap");
        const dump = await startRecording(lab, lab.target, lab.target.iface, pcapFile, {
          filter: ["host", scanner.v4],
        });
        const stream = lab.spawn(forger, [
          "timeout",
          "20",
          "python3",
          "-c",
          SEND_RAW_PACED_PY,
          forger.iface,
          "0.05",
          ...frames(DURING4),
        ]);
        // The scan starts once the stream is under way (its first sources on probation).
        await lab.waitFor(async () => (await probationSet(4)).some((e) => e.address === DURING4[9]), {
          timeoutMs: 10_000,
          what: "the forged stream under way",
        });
        const scan = await lab.exec(
          scanner,
          nmapArgv({
            scan: "-sS",
            family: 4,
            ports: "1-1023",
            target: lab.target.v4,
            timeoutSec: 60,
            extra: ["-T5", "--min-rate", "2000"],
          }),
          { timeoutMs: 90_000 },
        );
        await stream.exited;
        await stopRecording(dump);
        assert.equal(scan.code, 0, scan.stderr);

        // The scanner: stopped within a second of its first probe, then banned for good.
        const answers = countProbeAnswers(
          new Uint8Array(await readFile(pcapFile)),
          lab.target.v4,
          scanner.v4,
          (proto, port) => proto === 6 && port < 1024,
        );
        assert.ok(answers.firstTrapProbeUs !== undefined, JSON.stringify(answers));
        assert.ok(
          answers.leakWindowMs < 1000,
          `answered for ${answers.leakWindowMs} ms: ${JSON.stringify(answers)}`,
        );
        if (kernelTrap === "1") assert.equal(answers.answersAfterTrap, 0, JSON.stringify(answers));
        await lab.waitForFileContains(files.history, `Host: ${scanner.v4}/${scanner.v4} Port: `, 10_000);
        await lab.waitFor(async () => (await blockedSet(lab, lab.target, 4)).includes(scanner.v4), {
          timeoutMs: 10_000,
          what: "the scanner in the blocked set",
        });
        const long = await setElements(lab, lab.target, "blocked4");
        assert.equal(long.find((e) => e.address === scanner.v4)?.timeoutSec, 86400, JSON.stringify(long));

        // The forged sources: on probation, no longer than it, never banned for good.
        const blocked4 = await blockedSet(lab, lab.target, 4);
        const blocked6 = await blockedSet(lab, lab.target, 6);
        const history = await readFile(files.history, "utf8");
        for (const address of FORGED) {
          assert.ok(!blocked4.includes(address) && !blocked6.includes(address), `${address} banned for good`);
          assert.ok(!history.includes(`Host: ${address}/`), `${address} in the history`);
        }
        const onProbation = [...(await probationSet(4)), ...(await probationSet(6))];
        for (const e of onProbation)
          assert.ok((e.timeoutSec ?? Infinity) <= PROBATION_SEC, `${e.address}: ${e.timeoutSec} s`);
        const held = new Set(onProbation.map((e) => e.address));
        for (const address of [...FIRST4, ...FIRST6])
          assert.ok(held.has(address), `${address} not on probation`);
        const during = DURING4.filter((a) => held.has(a)).length;
        assert.ok(during >= DURING4.length / 2, `only ${during} of the forged stream on probation`);
        assert.ok(!daemon.stderr.includes("not blocked: limit of"), "the budget was spent");
        const listed = await lab.execOk(lab.target, ["node", MAIN_JS, "-c", files.conf, "blocked", "--json"]);
        assert.match(listed.stdout, /"address":"198\.51\.100\.1",[^}]*"probation":true/);

        // One probe, one hit: no second report of a probe by the other path.
        const c = await status(files.conf);
        assert.ok((c.probations ?? 0) >= FIRST4.length + FIRST6.length, JSON.stringify(c));
        if (kernelTrap === "1") {
          // The kernel's exact total, read when status asks for it.
          assert.ok((c.kernelTrapProbations ?? 0) >= FIRST4.length + FIRST6.length, JSON.stringify(c));
          // The scanner's probes after its first are repeats: each counted, some reported.
          assert.ok((c.kernelTrapProbationRepeats ?? 0) >= 1, JSON.stringify(c));
          assert.ok((c.kernelTrapRepeats ?? 0) >= (c.kernelTrapProbationRepeats ?? 0), JSON.stringify(c));
          assert.equal(c.captureHits ?? 0, 0, JSON.stringify(c));
          assert.equal(
            c.hits,
            (c.kernelTrapHits ?? 0) +
              (c.kernelTrapProbationRepeats ?? 0) +
              (c.kernelTrapOverLimitReports ?? 0),
            JSON.stringify(c),
          );
        } else {
          assert.equal(c.hits, c.captureHits, JSON.stringify(c));
        }
        const scannerProbation = daemon.stderr
          .split("\n")
          .filter((l) => l.includes(`Host ${scanner.v4} is on probation`));
        assert.equal(scannerProbation.length, 1, daemon.tail());
      } finally {
        daemon.kill("SIGTERM");
        await daemon.exited;
        await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
      }
    });
  }
});
