/**
 * Log only with the kernel trap on (#17): BLOCK_TCP="0", KERNEL_TRAP="1", `-stcp`. The kernel
 * observes the mode: it counts every probe, drops nothing, and reports a bounded rate of them
 * to the daemon, which logs them; the capture is not opened. A forged flood from random
 * sources (hping3, bounded in count) runs while a real `nmap -sS` scans the trap ports over
 * IPv4 and IPv6: the scanner is logged, its probes are answered (nothing dropped, nothing
 * blocked), every probe is counted exactly, and the reports stay within the kernel's buckets.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { LIMITS } from "../../src/limits.js";
import { MAIN_JS, READY, writeDaemonFiles } from "../helpers/daemon.js";
import { blockedSet, setElements } from "../helpers/nft-sets.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const TRAP_PORTS = [1, 11, 15, 79, 111, 119, 143, 540];
const FLOOD_PACKETS = 20_000;

describe("log only, the kernel observing: counted exactly, reported at a bounded rate", {
  skip: rootSkip(),
}, () => {
  let lab: Lab;
  let forger: ScannerHost;
  let scanner: ScannerHost;
  let daemon: LabProcess | undefined;
  let remove: (() => Promise<void>) | undefined;
  let conf = "";
  let history = "";

  before(async () => {
    lab = await createLab({ name: "psobs", hosts: 2 });
    forger = lab.scanner(1);
    scanner = lab.scanner(2);
    const files = await writeDaemonFiles({
      BLOCK_TCP: "0",
      BLOCK_UDP: "0",
      KILL_FIREWALL: "nftables",
      KERNEL_TRAP: "1",
      SCAN_TRIGGER: "0",
      TCP_PORTS: TRAP_PORTS.join(","),
    });
    remove = files.remove;
    conf = files.conf;
    history = files.history;
    daemon = lab.spawn(lab.target, ["node", MAIN_JS, "-c", conf, "-stcp"]);
    await lab.waitForOutput(daemon, READY, 20_000);
  });
  after(async () => {
    daemon?.kill("SIGTERM");
    await daemon?.exited;
    await lab?.destroy();
    await remove?.();
  });

  const status = async (): Promise<Record<string, number>> => {
    const r = await lab.execOk(lab.target, ["node", MAIN_JS, "-c", conf, "status", "--json"]);
    return (JSON.parse(r.stdout) as { result: { counters: Record<string, number> } }).result.counters;
  };

  test("a scanner during a forged flood is logged and answered; every probe counted once", async () => {
    const d = daemon as LabProcess;
    assert.match(d.stderr, /Kernel trap for stcp \(log only\): probes to any of 8 TCP ports/, d.tail());
    assert.doesNotMatch(d.stderr, /Kernel trap not used for stcp/);
    const before = await status();
    const started = performance.now();
    // ~10 000 a second from random sources for about 2 s: far past the report buckets.
    const flood = lab.spawn(forger, [
      "timeout",
      "30",
      "hping3",
      ...["--rand-source", "-S", "-p", "143", "-i", "u100", "-c", String(FLOOD_PACKETS)],
      lab.target.v4,
    ]);
    await lab.waitFor(
      async () => ((await status()).kernelTrapProbes ?? 0) > (before.kernelTrapProbes ?? 0) + 1000,
      {
        timeoutMs: 10_000,
        what: "the flood under way",
      },
    );
    const scans = [];
    for (const [family, target] of [
      [4, lab.target.v4],
      [6, lab.target.v6],
    ] as const) {
      const r = await lab.exec(
        scanner,
        nmapArgv({ scan: "-sS", family, ports: TRAP_PORTS, target, timeoutSec: 30 }),
        { timeoutMs: 40_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      scans.push(r.stdout);
    }
    await flood.exited;
    const elapsedS = (performance.now() - started) / 1000;
    const sent = Number(/(\d+) packets transmitted/.exec(flood.stdout + flood.stderr)?.[1]);
    assert.equal(sent, FLOOD_PACKETS, flood.tail());

    // Nothing dropped: every trap port answered the scanner (closed, not filtered).
    for (const out of scans) {
      for (const port of TRAP_PORTS) assert.match(out, new RegExp(`^${port}/tcp\\s+closed`, "m"), out);
    }
    // The scanner is logged, over both families, while the flood ran.
    for (const address of [scanner.v4, scanner.v6]) {
      const line = `attackalert: TCP SYN/Normal scan from host: ${address}/${address} to TCP port: `;
      await lab.waitFor(() => d.stderr.includes(line), { timeoutMs: 10_000, what: line });
    }

    // Every probe counted once, in the kernel: the flood's and the scanner's (one each, no retries).
    const expected = FLOOD_PACKETS + 2 * TRAP_PORTS.length;
    let c = await status();
    await lab.waitFor(
      async () => {
        c = await status();
        return (c.kernelTrapProbes ?? 0) - (before.kernelTrapProbes ?? 0) >= expected;
      },
      { timeoutMs: 10_000, what: `${expected} probes counted` },
    );
    const counted = (c.kernelTrapProbes ?? 0) - (before.kernelTrapProbes ?? 0);
    assert.equal(counted, expected, JSON.stringify(c));
    // Reported at a bounded rate (each bucket: its burst, then its rate), each report one hit.
    const reports = (c.kernelTrapSeenReports ?? 0) - (before.kernelTrapSeenReports ?? 0);
    const perSec = LIMITS.kernelSeenReportsPerSec + LIMITS.kernelOverLimitReportsPerSec;
    assert.ok(reports > 0 && reports <= perSec * (elapsedS + 2), `${reports} reports in ${elapsedS} s`);
    assert.ok(reports < counted / 2, `${reports} reports of ${counted} probes`);
    assert.equal((c.hits ?? 0) - (before.hits ?? 0), reports, JSON.stringify(c));
    // No capture, no block, no history: log only.
    assert.equal(c.frames ?? 0, 0, JSON.stringify(c));
    assert.equal(c.captureHits ?? 0, 0, JSON.stringify(c));
    assert.deepEqual(await blockedSet(lab, lab.target, 4), []);
    assert.deepEqual(await blockedSet(lab, lab.target, 6), []);
    assert.equal(await readFile(history, "utf8").catch(() => ""), "");
    // The scanner is a seen source (its next probes go through the shared bucket).
    const seen = [
      ...(await setElements(lab, lab.target, "seen4")),
      ...(await setElements(lab, lab.target, "seen6")),
    ];
    for (const address of [scanner.v4, scanner.v6])
      assert.ok(
        seen.some((e) => e.address === address && (e.timeoutSec ?? Infinity) <= LIMITS.kernelSeenSec),
        address,
      );
  });

  test("stopping the daemon removes the observer's rules, sets and counter", async () => {
    const d = daemon as LabProcess;
    d.kill("SIGTERM");
    await d.exited;
    daemon = undefined;
    const r = await lab.execOk(lab.target, ["nft", "list", "table", "inet", "portsentry"]);
    for (const gone of ["seen4", "seen6", "tally_probes", "trap_seen_limit", "chain trap"])
      assert.ok(!r.stdout.includes(gone), `${gone} left:\n${r.stdout}`);
  });
});
