/**
 * The kernel trap after connection tracking (#14), in a lab, advanced modes (-atcp -audp) with
 * the shipped port lists, IPv4 and IPv6:
 * - the answers to the host's own UDP queries (NTP from port 123, DNS to 53 and to an
 *   ephemeral port below 1024), late (the client's socket already closed) and in time, are
 *   never trapped; an unsolicited datagram from the same server is (the control);
 * - fragmented probes (nmap -f, --mtu 8, -ff) are trapped after reassembly, with the right
 *   port, and the scanner gets no answer after its first probe;
 * - a tiny IPv6 first fragment is refused by the kernel (no answer, no hit);
 * - with DETECT_ACK_SCANS (the kernel's rules; the runner passes the key), nmap -sA -sW -sM are
 *   blocked at their first probe and unanswered, and our own connection's segments to a local
 *   port in the trap range never are;
 * - LISTEN_GRACE: a client during a service's restart (its SYN to the stopped service) is not
 *   banned; with LISTEN_GRACE=0 it is (the control);
 * - a probe with a bad checksum (nmap --badsum, both families) is not trapped; the same probe
 *   with a good one is.
 */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { TCP_CLIENT_JS } from "../helpers/daemon.js";
import { runnerHits, startTrapRunner } from "../helpers/kernel-trap-lab.js";
import type { KernelTrapRunnerSpec } from "../helpers/kernel-trap-runner.js";
import { blockedSet } from "../helpers/nft-sets.js";
import { countProbeAnswers } from "../helpers/probe-answers.js";
import { startRecording, stopRecording } from "../helpers/recording.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

/** How late the late answers come: the client's socket is long gone, conntrack's entry is not (30 s). */
const LATE_MS = 1000;
/** A UDP server on 53 and 123 (both families): answers each datagram, at once or LATE_MS later. */
const SERVER_JS = `const d=require("dgram");for(const p of [53,123]){const s=d.createSocket({type:"udp6",ipv6Only:false});s.on("message",(m,r)=>setTimeout(()=>s.send("answer",r.port,r.address,()=>console.log("ANSWERED",p,r.port)),String(m)==="late"?${LATE_MS}:0));s.bind(p,"::",()=>console.log("LISTENING",p));}`;
/**
 * A client: from SRC to SERVER:DST. "late": closes its socket as soon as the query is sent;
 * "intime": reads the answer, then closes at once. Exits within 3 s.
 */
const CLIENT_JS = `const [fam,server,src,dst,how]=process.argv.slice(1);const s=require("dgram").createSocket(fam==="6"?"udp6":"udp4");const t=setTimeout(()=>{console.log("NO ANSWER");process.exit(0)},3000);s.on("message",()=>{console.log("GOT");clearTimeout(t);s.close()});s.bind(Number(src),()=>s.send(how,Number(dst),server,()=>{console.log("SENT");if(how==="late"){clearTimeout(t);s.close()}}));`;
/** (client port, server port): NTP, DNS from a resolver's port 53, DNS from an ephemeral port below 1024. */
const QUERIES = [
  [123, 123],
  [53, 53],
  [900, 53],
] as const;

const SERVICE_JS = `require("net").createServer(c=>c.end("hello\\n")).listen({port:Number(process.argv[1]),host:"::"},()=>console.log("LISTENING"));`;

describe("kernel trap after connection tracking", { skip: rootSkip() }, () => {
  let lab: Lab;
  let dir: string;
  const running: LabProcess[] = [];

  before(async () => {
    lab = await createLab({ name: "psct", hosts: 2 });
    dir = await mkdtemp(join(tmpdir(), "psct-"));
  });
  after(async () => {
    for (const p of running.splice(0)) await p.stop(3000);
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const p of running.splice(0)) await p.stop(3000);
    await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
  });

  const startTrap = (spec: KernelTrapRunnerSpec) => startTrapRunner(lab, running, spec);
  const hitsOf = runnerHits;

  const waitForHits = (proc: LabProcess, n: number, what: string) =>
    lab.waitFor(() => hitsOf(proc).length >= n || undefined, { timeoutMs: 10_000, what });

  test("answers to our own UDP queries, late and in time, are not trapped (IPv4, IPv6)", async () => {
    const server = lab.scanner(1);
    const trap = await startTrap({ modes: ["atcp", "audp"] });
    const srv = lab.spawn(server, ["node", "-e", SERVER_JS]);
    running.push(srv);
    await lab.waitFor(() => (srv.stdout.match(/LISTENING/g) ?? []).length === 2 || undefined, {
      what: "UDP server",
    });
    let answered = 0;
    // Late ones first: each 5-tuple's conntrack entry is then new when its late answer comes.
    for (const how of ["late", "intime"] as const)
      for (const family of [4, 6] as const)
        for (const [src, dst] of QUERIES) {
          const address = family === 4 ? server.v4 : server.v6;
          const client = await lab.exec(lab.target, [
            "node",
            "-e",
            CLIENT_JS,
            String(family),
            address,
            String(src),
            String(dst),
            how,
          ]);
          const label = `${how} IPv${family} ${src}->${dst}`;
          assert.match(client.stdout, how === "late" ? /SENT/ : /GOT/, `${label}: ${client.stdout}`);
          answered++;
          await lab.waitFor(() => (srv.stdout.match(/ANSWERED/g) ?? []).length >= answered || undefined, {
            what: `${label} answered`,
          });
        }
    // The control: the same server sends to a trap port, unasked (no flow: a probe).
    for (const family of [4, 6] as const) {
      const address = family === 4 ? lab.target.v4 : lab.target.v6;
      const probe = `const s=require("dgram").createSocket("udp${family}");s.send("x",124,"${address}",()=>s.close());`;
      const sent = await lab.exec(server, ["node", "-e", probe]);
      assert.ok(sent.ok, sent.stderr);
    }
    await waitForHits(trap, 2, `the control's two hits; ${trap.stdout}`);
    // NFLOG keeps the order: an answer trapped before the controls would be among these.
    assert.deepEqual(
      hitsOf(trap).map((h) => [h.family, h.port]),
      [
        [4, 124],
        [6, 124],
      ],
    );
  });

  for (const [name, family, extra] of [
    ["nmap -f", 4, ["-f"]],
    ["nmap --mtu 8", 4, ["--mtu", "8"]],
    ["nmap -ff", 4, ["-ff"]],
  ] as const) {
    test(`${name}: reassembled, trapped with the right port, no answer after the first probe`, async () => {
      const scanner: ScannerHost = lab.scanner(2);
      const trap = await startTrap({ modes: ["atcp", "audp"] });
      const ports = [7, 9, 13, 19, 79];
      const file = join(dir, `frag-${family}${extra.join("")}.pcap`);
      const source = family === 4 ? scanner.v4 : scanner.v6;
      const target = family === 4 ? lab.target.v4 : lab.target.v6;
      const dump = await startRecording(lab, lab.target, lab.target.iface, file, {
        options: ["-s", "200"],
        filter: ["host", source],
      });
      running.push(dump);
      try {
        await lab.exec(scanner, nmapArgv({ scan: "-sS", family, ports, target, extra }));
      } finally {
        await stopRecording(dump);
      }
      await waitForHits(trap, 1, "the trap's hit");
      const hits = hitsOf(trap);
      assert.equal(hits.length, 1, JSON.stringify(hits));
      assert.ok(ports.includes(hits[0]!.port), `port ${hits[0]!.port}`);
      assert.equal(hits[0]!.address, source);
      assert.ok((await blockedSet(lab, lab.target, family)).includes(source));
      const counted = countProbeAnswers(
        new Uint8Array(await readFile(file)),
        target,
        source,
        (proto, port) => proto === 6 && ports.includes(port),
      );
      assert.equal(counted.answersAfterTrap, 0, JSON.stringify(counted));
    });
  }

  test("a tiny IPv6 first fragment (nmap -6 -f) is refused by the kernel: no answer, no hit", async () => {
    // RFC 7112: a first fragment without the whole TCP header is dropped by IPv6 reassembly
    // (the conntrack defragmenter's too), before the trap; the scanner learns nothing.
    const scanner = lab.scanner(2);
    const trap = await startTrap({ modes: ["atcp", "audp"] });
    const ports = [7, 9, 13, 19, 79];
    const file = join(dir, "frag-6f.pcap");
    const dump = await startRecording(lab, lab.target, lab.target.iface, file, {
      options: ["-s", "200"],
      filter: ["host", scanner.v6],
    });
    running.push(dump);
    try {
      const target = lab.target.v6;
      await lab.exec(scanner, nmapArgv({ scan: "-sS", family: 6, ports, target, extra: ["-f"] }));
      // The control, not fragmented: trapped (NFLOG keeps the order).
      await lab.exec(scanner, nmapArgv({ scan: "-sS", family: 6, ports: [8], target }));
      await waitForHits(trap, 1, "the control's hit");
    } finally {
      await stopRecording(dump);
    }
    assert.deepEqual(
      hitsOf(trap).map((h) => h.port),
      [8],
    );
    const counted = countProbeAnswers(
      new Uint8Array(await readFile(file)),
      lab.target.v6,
      scanner.v6,
      (proto, port) => proto === 6 && (ports.includes(port) || port === 8),
    );
    assert.equal(counted.answers, 0, JSON.stringify(counted));
  });

  for (const scan of ["-sA", "-sW", "-sM"])
    test(`DETECT_ACK_SCANS in the kernel: nmap ${scan} is blocked at its first probe, unanswered`, async () => {
      const scanner = lab.scanner(1);
      await startTrap({ modes: ["atcp", "audp"], config: { detectAckScans: true } });
      const ports = [7, 9, 13, 19, 79];
      const out = await lab.exec(scanner, nmapArgv({ scan, family: 4, ports, target: lab.target.v4 }));
      // An RST would read "unfiltered" (-sA) or "closed" (-sW, -sM): not one came back.
      assert.match(out.stdout, /filtered/, out.stdout);
      assert.doesNotMatch(out.stdout, /unfiltered|closed/, out.stdout);
      assert.ok((await blockedSet(lab, lab.target, 4)).includes(scanner.v4));
    });

  test("DETECT_ACK_SCANS in the kernel: our own connection's traffic is never trapped", async () => {
    const server = lab.scanner(2);
    await startTrap({ modes: ["atcp", "audp"], config: { detectAckScans: true } });
    const srv = lab.spawn(server, [
      "node",
      "-e",
      `require("net").createServer(c=>c.end(Buffer.alloc(300000,97))).listen(8000,"::",()=>console.log("LISTENING"))`,
    ]);
    running.push(srv);
    await lab.waitForOutput(srv, /LISTENING/, 5_000);
    for (const [family, address, localPort] of [
      [4, server.v4, 700],
      [6, server.v6, 701],
    ] as const) {
      // From a local port in the trap range: every segment the server sends goes to a trap port.
      const client = await lab.exec(lab.target, [
        "node",
        "-e",
        `const s=require("net").connect({host:"${address}",port:8000,localPort:${localPort}});let n=0;s.on("data",d=>n+=d.length);s.on("end",()=>{console.log("GOT",n);process.exit(0)});setTimeout(()=>process.exit(1),5000)`,
      ]);
      assert.match(client.stdout, /GOT 300000/, `IPv${family}: ${client.stdout}${client.stderr}`);
      assert.ok(!(await blockedSet(lab, lab.target, family)).includes(address), `IPv${family}`);
    }
    // The control: the same host's ACK scan is trapped.
    await lab.exec(server, nmapArgv({ scan: "-sA", family: 4, ports: [7], target: lab.target.v4 }));
    assert.ok((await blockedSet(lab, lab.target, 4)).includes(server.v4));
  });

  for (const graceSec of [600, 0])
    test(`LISTEN_GRACE=${graceSec}: a client during a 2 s service restart is ${graceSec ? "not " : ""}banned (IPv4, IPv6)`, async () => {
      const client = lab.scanner(2);
      const port = 80;
      await startTrap({ modes: ["atcp", "audp"], config: { listenGraceSec: graceSec } });
      const connects = async (address: string) =>
        (
          await lab.exec(client, ["node", TCP_CLIENT_JS, "tcp", address, String(port), "1000"])
        ).stdout.includes("hello");
      const service = async (): Promise<LabProcess> => {
        const proc = lab.spawn(lab.target, ["node", "-e", SERVICE_JS, String(port)]);
        running.push(proc);
        await lab.waitForOutput(proc, /LISTENING/, 5_000);
        return proc;
      };
      const first = await service();
      for (const address of [lab.target.v4, lab.target.v6]) assert.ok(await connects(address), address);
      await first.stop(3000); // the restart: down, a client tries (its SYNs retransmitted), up again
      for (const address of [lab.target.v4, lab.target.v6]) assert.equal(await connects(address), false);
      await service();
      const blocked = [...(await blockedSet(lab, lab.target, 4)), ...(await blockedSet(lab, lab.target, 6))];
      if (graceSec > 0) {
        assert.deepEqual(blocked, []);
        for (const address of [lab.target.v4, lab.target.v6]) assert.ok(await connects(address), address);
      } else assert.deepEqual(blocked.sort(), [client.v4, client.v6].sort());
    });

  test("a bad checksum is not trapped, a good one is (nmap --badsum, IPv4 and IPv6)", async () => {
    const scanner = lab.scanner(1);
    const trap = await startTrap({ modes: ["atcp", "audp"] });
    for (const family of [4, 6] as const) {
      const target = family === 4 ? lab.target.v4 : lab.target.v6;
      for (const scan of ["-sS", "-sU"])
        await lab.exec(scanner, nmapArgv({ scan, family, ports: [7], target, extra: ["--badsum"] }));
    }
    // The control, with good checksums: NFLOG keeps the order, a bad one would come first.
    await lab.exec(scanner, nmapArgv({ scan: "-sS", family: 4, ports: [8], target: lab.target.v4 }));
    await lab.exec(scanner, nmapArgv({ scan: "-sU", family: 6, ports: [8], target: lab.target.v6 }));
    await waitForHits(trap, 2, "the control's two hits");
    assert.deepEqual(
      hitsOf(trap).map((h) => [h.family, h.port]),
      [
        [4, 8],
        [6, 8],
      ],
    );
  });
});
