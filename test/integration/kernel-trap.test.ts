/**
 * KERNEL_TRAP end to end in a lab (spec §2 KERNEL_TRAP, §3, §6): the trap rules and the NFLOG
 * sensor run in the target namespace (test/helpers/kernel-trap-runner.ts); real nmap and
 * hping3 scan it. A tcpdump on the target's interface counts what the target answered: after
 * the first probe to a trap port, nothing, however fast the scan, IPv4 and IPv6, TCP and UDP.
 * The scanner lands in the kernel's blocked set and the sensor reports it; real services,
 * excluded ports and protected sources are never trapped; a spoofed sweep stops at the limit
 * and every kernel block it made is reported.
 */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { Config } from "../../src/config/types.js";
import { LIMITS } from "../../src/limits.js";
import { kernelTrapPlan } from "../../src/policy/kernel-trap-plan.js";
import { candidatePorts, type StealthMode } from "../../src/port-set.js";
import { KernelTrap } from "../../src/respond/kernel-trap.js";
import { DEFAULT_NFLOG_GROUP, TRAP_CHAIN } from "../../src/respond/kernel-trap-script.js";
import { NftablesResponder } from "../../src/respond/nftables.js";
import { testConfig } from "../helpers/config.js";
import { TCP_CLIENT_JS } from "../helpers/daemon.js";
import { runnerHits, startTrapRunner } from "../helpers/kernel-trap-lab.js";
import type { KernelTrapRunnerSpec } from "../helpers/kernel-trap-runner.js";
import { countProbeAnswers } from "../helpers/probe-answers.js";
import { startRecording, stopRecording } from "../helpers/recording.js";
import { fastNmapScan } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

/** PortSentry 1.2's lists (spec §2). */
const TCP_12 = [
  1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 5742, 6667, 12345, 12346, 20034, 27665, 31337,
  32771, 32772, 32773, 32774, 40421, 49724, 54320,
];
const UDP_12 = [
  1, 7, 9, 69, 161, 162, 513, 635, 640, 641, 700, 37444, 34555, 31335, 32770, 32771, 32772, 32773, 32774,
  31337, 54321,
];
const SERVICE_JS = `const net=require("net");net.createServer(c=>c.end("hello\\n")).listen({port:Number(process.argv[1]),host:"::"},()=>console.log("LISTENING"));`;
const UDP_SERVICE_JS = `const s=require("dgram").createSocket("udp6");s.on("message",(m,r)=>s.send("pong\\n",r.port,r.address));s.bind(Number(process.argv[1]),"::",()=>console.log("LISTENING"));`;
const MAX_PER_MINUTE = 60;

describe("kernel trap", { skip: rootSkip() }, () => {
  let lab: Lab;
  let scanner: ScannerHost;
  let innocent: ScannerHost;
  let dir: string;
  const running: LabProcess[] = [];

  before(async () => {
    lab = await createLab({ name: "pskt", hosts: 2 });
    scanner = lab.scanner(1);
    innocent = lab.scanner(2);
    dir = await mkdtemp(join(tmpdir(), "pskt-"));
  });
  after(async () => {
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const p of running.splice(0)) await p.stop(3000);
    // Blocks outlive the trap by design; each test starts with none.
    await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
  });

  const configOf = (spec: KernelTrapRunnerSpec): Config =>
    testConfig("/nonexistent", { kernelTrap: true, killFirewall: "nftables", ...spec.config });

  const startTrap = (spec: KernelTrapRunnerSpec) => startTrapRunner(lab, running, spec);
  const hitsOf = runnerHits;

  async function statsOf(
    proc: LabProcess,
  ): Promise<{ stats: { frames: number; hits: number }; overLimit: number }> {
    const before = proc.stdout.split('{"stats"').length;
    proc.kill("SIGUSR2");
    await lab.waitFor(() => proc.stdout.split('{"stats"').length > before, { what: "runner stats" });
    const line = proc.stdout
      .split("\n")
      .filter((l) => l.startsWith('{"stats"'))
      .at(-1);
    return JSON.parse(line ?? "{}");
  }

  async function blocked(family: 4 | 6): Promise<string[]> {
    const set = family === 4 ? "blocked4" : "blocked6";
    const r = await lab.exec(lab.target, ["nft", "-j", "list", "set", "inet", "portsentry", set]);
    if (!r.ok) return [];
    const doc = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
    const elems = doc.nftables.find((x) => x.set)?.set?.elem ?? [];
    return elems.map((e) => (typeof e === "string" ? e : String((e as { elem: { val: unknown } }).elem.val)));
  }

  /** Runs `fn` while tcpdump records the scanner's traffic on the target's interface. */
  async function recorded(source: string, fn: () => Promise<unknown>): Promise<Uint8Array> {
    const file = join(dir, `cap-${Date.now()}.pcap`);
    const dump = await startRecording(lab, lab.target, lab.target.iface, file, {
      options: ["-s", "200"],
      filter: ["host", source],
    });
    running.push(dump);
    try {
      await fn();
    } finally {
      await stopRecording(dump);
    }
    return new Uint8Array(await readFile(file));
  }

  const nmap = (host: ScannerHost, family: 4 | 6, scan: "-sS" | "-sU") =>
    lab.exec(host, fastNmapScan(scan, family, family === 6 ? lab.target.v6 : lab.target.v4), {
      timeoutMs: 90_000,
    });

  const hping = (host: ScannerHost, args: readonly string[]) =>
    lab.exec(host, ["timeout", "5", "hping3", "-c", "1", ...args, lab.target.v4], { timeoutMs: 10_000 });

  const canReach = async (host: ScannerHost, address: string, port: number) =>
    (await lab.exec(host, ["node", TCP_CLIENT_JS, "tcp", address, String(port), "1000"])).stdout.includes(
      "hello",
    );

  async function startService(js: string, port: number): Promise<void> {
    const proc = lab.spawn(lab.target, ["node", "-e", js, String(port)]);
    running.push(proc);
    await lab.waitForOutput(proc, "LISTENING", 10_000, "stdout");
  }

  test("the answer counter sees answers when nothing traps (control)", async () => {
    const pcap = await recorded(scanner.v4, () =>
      lab.exec(scanner, ["timeout", "20", "nmap", "-sS", "-Pn", "-n", "-p", "1-100", lab.target.v4]),
    );
    // Every port counts as a trap here, so the first probe is "the trap probe" and every later
    // probe's answer must be counted: one fixed trap port is sometimes the last nmap probes.
    const count = countProbeAnswers(pcap, lab.target.v4, scanner.v4, () => true);
    assert.ok(count.answers >= 100, JSON.stringify(count));
    assert.ok(count.answersAfterTrap > 0, JSON.stringify(count));
  });

  const scans: readonly {
    readonly name: string;
    readonly mode: StealthMode;
    readonly family: 4 | 6;
    readonly scan: "-sS" | "-sU";
  }[] = [
    { name: "TCP SYN -T5, stcp, IPv4", mode: "stcp", family: 4, scan: "-sS" },
    { name: "TCP SYN -T5, atcp, IPv6", mode: "atcp", family: 6, scan: "-sS" },
    { name: "UDP -T5, sudp, IPv4", mode: "sudp", family: 4, scan: "-sU" },
    { name: "UDP -T5, audp, IPv6", mode: "audp", family: 6, scan: "-sU" },
  ];
  for (const s of scans) {
    test(`${s.name}: 20 000 ports, not one answer after the first trap probe; blocked and reported`, async () => {
      const spec: KernelTrapRunnerSpec = { modes: [s.mode], config: { tcpPorts: TCP_12, udpPorts: UDP_12 } };
      const trap = await startTrap(spec);
      const traps = candidatePorts(s.mode, configOf(spec));
      const proto = s.scan === "-sS" ? 6 : 17;
      const source = s.family === 6 ? scanner.v6 : scanner.v4;
      const target = s.family === 6 ? lab.target.v6 : lab.target.v4;
      const pcap = await recorded(source, () => nmap(scanner, s.family, s.scan));
      const count = countProbeAnswers(pcap, target, source, (p, port) => p === proto && traps[port] === 1);
      assert.ok(count.probes > 15_000, `nmap probed: ${JSON.stringify(count)}`);
      assert.notEqual(count.firstTrapProbeUs, undefined, JSON.stringify(count));
      assert.equal(count.answersAfterTrap, 0, JSON.stringify(count));
      assert.deepEqual(await blocked(s.family), [source]);
      const hit = await lab.waitFor(() => hitsOf(trap).find((h) => h.address === source), {
        what: "the sensor's hit",
      });
      assert.equal(hit.kernelBlocked, true);
      assert.equal(hit.mode, s.mode);
      assert.equal(hit.family, s.family);
      assert.equal(traps[hit.port], 1);
      assert.equal(hit.classification, proto === 6 ? "TCP SYN/Normal scan" : "UDP scan");
      // Only the first probe reached the log: one hit for the whole scan.
      assert.equal(hitsOf(trap).length, 1, trap.stdout);
    });
  }

  test("advanced mode: real services stay reachable (also one started later), excluded ports never trap", async () => {
    await startService(SERVICE_JS, 515);
    await startService(UDP_SERVICE_JS, 517);
    const trap = await startTrap({ modes: ["atcp", "audp"] });
    assert.ok(await canReach(innocent, lab.target.v4, 515), "service below 1024, IPv4");
    assert.ok(await canReach(innocent, lab.target.v6, 515), "service below 1024, IPv6");
    await startService(SERVICE_JS, 516);
    assert.ok(await canReach(innocent, lab.target.v4, 516), "service started after the trap");
    const udp = await hping(innocent, ["--udp", "-p", "517"]);
    assert.match(udp.stdout + udp.stderr, /1 packets received/, "UDP service answered");
    // Excluded: 113 (TCP), 137 (UDP); the kernel answers them as closed ports.
    const ident = await hping(innocent, ["-S", "-p", "113"]);
    assert.match(ident.stdout, /flags=RA/, "113 answered with RST");
    await hping(innocent, ["--udp", "-p", "137"]);
    assert.deepEqual(await blocked(4), []);
    assert.deepEqual(await blocked(6), []);
    // The scanner, probing a port next to the service, is trapped.
    const probe = await hping(scanner, ["-S", "-p", "514"]);
    assert.match(probe.stdout + probe.stderr, /100% packet loss/);
    assert.deepEqual(await blocked(4), [scanner.v4]);
    await lab.waitFor(() => hitsOf(trap).some((h) => h.address === scanner.v4 && h.port === 514));
    assert.ok(await canReach(innocent, lab.target.v4, 515), "the innocent host is still served");
    assert.deepEqual(
      hitsOf(trap).map((h) => h.address),
      [scanner.v4],
    );
  });

  test("forged sources: ignore list, this host, loopback, gateway, name servers are never blocked", async () => {
    await lab.execOk(lab.target, ["ip", "route", "add", "default", "via", "192.0.2.254"]);
    try {
      const protectFile = join(dir, "protect.json");
      // 198.51.100.0/24: the ignore list; 203.0.113.53: a name server (resolv.conf is per mount
      // namespace, so the test hands it over as the daemon would).
      const trap = await startTrap({
        modes: ["stcp"],
        config: { tcpPorts: [79] },
        ignore: ["198.51.100.0/24"],
        nameServers: ["203.0.113.53"],
        protectFile,
      });
      for (const forged of ["198.51.100.7", lab.target.v4, "127.0.0.1", "192.0.2.254", "203.0.113.53"]) {
        await hping(scanner, ["-S", "-p", "79", "-a", forged]);
      }
      // Added while running (a name server that appeared): in force before the next probe.
      await writeFile(
        protectFile,
        JSON.stringify({ ignore: ["198.51.100.0/24"], nameServers: ["203.0.113.53", "203.0.113.77"] }),
      );
      trap.kill("SIGUSR1");
      await lab.waitForOutput(trap, '{"protected":{"ok":true,"changed":true}}', 10_000, "stdout");
      await hping(scanner, ["-S", "-p", "79", "-a", "203.0.113.77"]);
      // Control: a forged source that is not protected does reach the trap.
      await hping(scanner, ["-S", "-p", "79", "-a", "203.0.113.99"]);
      await lab.waitFor(() => hitsOf(trap).length > 0, { what: "the control hit" });
      assert.deepEqual(await blocked(4), ["203.0.113.99"]);
      assert.deepEqual(
        hitsOf(trap).map((h) => h.address),
        ["203.0.113.99"],
      );
    } finally {
      await lab.exec(lab.target, ["ip", "route", "del", "default"]);
    }
  });

  test("spoofed sweep of 10 000 sources: kernel blocks stop at the limit, every one reported", async () => {
    const trap = await startTrap({
      modes: ["stcp"],
      config: { tcpPorts: [79], maxBlocksPerMinute: MAX_PER_MINUTE },
    });
    const started = performance.now();
    const r = await lab.exec(
      scanner,
      [
        "timeout",
        "30",
        "hping3",
        "-q",
        "--rand-source",
        "-S",
        "-p",
        "79",
        "-i",
        "u100",
        "-c",
        "10000",
        lab.target.v4,
      ],
      { timeoutMs: 40_000 },
    );
    const sweepSec = (performance.now() - started) / 1000;
    assert.match(r.stdout + r.stderr, /10000 packets transmitted/);
    const elements = (await blocked(4)).length;
    // The bucket holds MAX_PER_MINUTE, refilled at one a second while the sweep lasts.
    assert.ok(elements >= MAX_PER_MINUTE - 1, `${elements} blocks`);
    assert.ok(elements <= MAX_PER_MINUTE + Math.ceil(sweepSec) + 1, `${elements} blocks in ${sweepSec} s`);
    // Every kernel block reached the daemon side, once; probes past the limit are reported
    // apart (not blocked) at a bounded rate: the NFLOG volume is blocks plus that rate.
    const kernelHits = () => hitsOf(trap).filter((h) => h.kernelBlocked === true);
    const reports = () => hitsOf(trap).filter((h) => h.kernelBlocked !== true);
    await lab.waitFor(() => kernelHits().length >= elements, { what: `${elements} hits`, timeoutMs: 5000 });
    const s = await statsOf(trap);
    const now = (await blocked(4)).length;
    assert.ok(kernelHits().length === now, `${kernelHits().length} hits for ${now} blocks`);
    const maxReports = LIMITS.kernelOverLimitReportsPerSec * (Math.ceil(sweepSec) + 2);
    assert.ok(reports().length > 0, "past the limit, probes are reported");
    assert.ok(reports().length <= maxReports, `${reports().length} reports in ${sweepSec} s`);
    assert.ok(s.stats.frames <= now + maxReports, `NFLOG frames ${s.stats.frames} for ${now} blocks`);
    // Random sources in 0/8, 127/8, 224/4 and 240/4 (about 13 %) are never trapped at all.
    assert.ok(s.overLimit > 8000, `over the limit: ${s.overLimit}`);
    assert.ok(s.overLimit > reports().length);
    assert.equal(new Set(kernelHits().map((h) => h.address)).size, kernelHits().length);
  });

  test("idempotent set-up beside the nftables responder; disarm keeps the blocks", async () => {
    const command = ["ip", "netns", "exec", lab.target.ns, "nft"];
    const config = testConfig("/nonexistent", {
      kernelTrap: true,
      killFirewall: "nftables",
      blockTimeoutSec: 3600,
    });
    const plan = kernelTrapPlan(config, ["stcp", "sudp"], (mode) => candidatePorts(mode, config));
    const trap = new KernelTrap({ modes: plan.kernel, timeoutSec: 3600, maxBlocksPerMinute: 60, command });
    const responder = new NftablesResponder({ command, interactive: false });
    try {
      assert.deepEqual(await responder.start(), { ok: true });
      assert.deepEqual(await trap.setProtected([]), { ok: true, changed: true });
      assert.deepEqual(await trap.start(), { ok: true });
      const once = (await lab.execOk(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout;
      // Restart: trap, then the responder (daemon start order), then the trap again.
      assert.deepEqual(await trap.start(), { ok: true });
      assert.deepEqual(await responder.start(), { ok: true });
      assert.deepEqual(await trap.start(), { ok: true });
      const twice = (await lab.execOk(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout;
      assert.equal(twice, once);
      assert.match(once, /chain trap \{/);
      assert.equal(await trap.present(), true);
      // The responder still bans into the same sets; a kernel block's timeout can be corrected.
      const target = { address: "198.51.100.1", family: 4 as const, port: 1, mode: "stcp" as const };
      assert.deepEqual(await responder.ban(target, 7200), { ok: true });
      await hping(scanner, ["-S", "-p", "1"]);
      assert.deepEqual((await blocked(4)).sort(), ["192.0.2.2", "198.51.100.1"]);
      assert.deepEqual(await trap.disarm(), { ok: true });
      assert.deepEqual(await trap.disarm(), { ok: true });
      assert.equal(await trap.present(), false);
      const after = (await lab.execOk(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout;
      assert.doesNotMatch(after, new RegExp(`chain ${TRAP_CHAIN}|protect4|trap_limit`));
      assert.deepEqual((await blocked(4)).sort(), ["192.0.2.2", "198.51.100.1"]);
      // The responder's flush removes everything, trap included.
      assert.deepEqual(await trap.start(), { ok: true });
      assert.deepEqual(await responder.flush(), { ok: true });
      const gone = await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"]);
      assert.equal(gone.ok, false);
    } finally {
      await responder.stop();
    }
    assert.equal(DEFAULT_NFLOG_GROUP, 31337);
  });
});
