/**
 * `portsentry replay` against the live daemon (spec §1: "replay on a capture made in a test
 * gives the same detections as the live run"). In a lab, the real daemon runs (`-stcp -sudp`,
 * then `-atcp -audp`) while tcpdump records the target's interface; two scanners probe it
 * with nmap (-sS, -sF, -sU), IPv4 and IPv6, in parallel. Then replay runs over the file with
 * the same config, and its detections and blocks are compared with what the daemon logged and
 * wrote to its history file.
 *
 * Why the comparison can be exact. The daemon blocks a scanner at its first hit (nft, hook
 * prerouting), but the later probes of that scanner still reach both the daemon's capture and
 * tcpdump (AF_PACKET sees them before netfilter): the daemon logs them as hits of an already
 * blocked host, and replay, which sees no answer to them, does the same (unverified). So the
 * set of (source, protocol, port, classification) must be equal, the set of blocks (source,
 * port, protocol) must be equal, and so must each source's first detection (the one that
 * blocked it). One live filter hides in the logs: a source's scan lines are rate-limited to 10
 * a minute, so each address here makes fewer than that (asserted).
 *
 * The daemon captures on the bridge only (`-i`), the interface tcpdump records, so both see
 * the same packets.
 *
 * Listeners: ports with a service are left out of the live filter; replay knows them only from
 * the capture. An innocent client connects to each service first, so the host's SYN+ACK is
 * in the capture before any scan; replay then takes later unanswered probes of those ports
 * for a listener's too (docs/replay.md).
 */

import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeFrame, PacketFacts } from "../../src/decode/packet.js";
import type { ReplayEvent } from "../../src/replay/events.js";
import { bytesSource, openCapture } from "../../src/sensors/pcap-file.js";
import {
  type DaemonFiles,
  REPO_ROOT,
  startDaemon,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { startRecording } from "../helpers/recording.js";
import { nmapArgv } from "../helpers/scans.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const REPLAY_JS = join(REPO_ROOT, "dist/src/cli/main.js");
const SERVICE_JS = `const net=require("net");net.createServer(c=>c.end("hello\\n")).listen({port:Number(process.argv[1]),host:"::"},()=>console.log("LISTENING"));`;
/** The daemon's per-source cap on scan lines (log/ratelimit.ts DEFAULT_RATE_LIMIT.perKey). */
const LOG_LINES_PER_SOURCE = 10;

interface Scenario {
  readonly name: string;
  readonly modes: readonly string[];
  readonly keys: Readonly<Record<string, string>>;
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
  /** A TCP port with a service: never a trap. */
  readonly servicePort: number;
  /** Probed once at the end (UDP, by scanner 1 over IPv4): when its line is logged, all are. */
  readonly sentinelPort: number;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "-stcp -sudp",
    modes: ["-stcp", "-sudp"],
    keys: { TCP_PORTS: "1,11,143", UDP_PORTS: "7,9" },
    tcpPorts: [1, 11, 143],
    udpPorts: [7],
    servicePort: 11,
    sentinelPort: 9,
  },
  {
    name: "-atcp -audp",
    modes: ["-atcp", "-audp"],
    keys: { TCP_PORTS: "1", UDP_PORTS: "1", ADVANCED_PORTS_TCP: "1024", ADVANCED_PORTS_UDP: "1024" },
    tcpPorts: [1, 515, 666],
    udpPorts: [7, 666],
    servicePort: 515,
    sentinelPort: 999,
  },
];

const SCANS = ["-sS", "-sF", "-sU"] as const;

/** `attackalert: TCP SYN/Normal scan from host: 192.0.2.2/192.0.2.2 to TCP port: 143` */
const SCAN_LINE = /attackalert: (.+?) from host: [^/\s]+\/(\S+) to (TCP|UDP) port: (\d+)$/;
/** `<epoch> - 11/25/2026 09:35:55 Host: 192.0.2.2/192.0.2.2 Port: 143 TCP Blocked` */
const HISTORY_LINE = /Host: [^/\s]+\/(\S+) Port: (\d+) (TCP|UDP) Blocked$/;

describe("replay gives the live daemon's detections and blocks", { skip: rootSkip() }, () => {
  let lab: Lab;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    lab = await createLab({ name: "psrp", hosts: 2 });
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  for (const scenario of SCENARIOS) {
    test(`${scenario.name}: nmap -sS -sF -sU, IPv4 and IPv6, two scanners`, async (t) => {
      const files = await writeDaemonFiles({
        ...scenario.keys,
        BLOCK_TCP: "1",
        BLOCK_UDP: "1",
        KILL_FIREWALL: "nftables",
        KILL_HOSTS_DENY: "ALL: $TARGET$",
      });
      cleanup.push(files.remove);
      const pcap = join(files.dir, "target.pcap");
      const service = lab.spawn(lab.target, ["node", "-e", SERVICE_JS, String(scenario.servicePort)]);
      let tcpdump: LabProcess | undefined;
      let daemon: LabProcess | undefined;
      try {
        await lab.waitForOutput(service, "LISTENING", 10_000);
        tcpdump = await startRecording(lab, lab.target, lab.target.iface, pcap, { options: ["-Z", "root"] });
        daemon = await startDaemon(lab, lab.target, files.conf, ["-i", lab.target.iface, ...scenario.modes]);

        await scanAll(lab, scenario, daemon);
        // tcpdump writes each packet as it comes (--immediate-mode -U); stopping it drops what
        // the kernel has not handed over yet, so wait for the sentinel to be in the file.
        await lab.waitFor(() => fileHasUdpTo(pcap, scenario.sentinelPort), {
          timeoutMs: 10_000,
          what: `the sentinel probe in ${pcap}`,
        });

        await stopProcess(tcpdump);
        await stopProcess(daemon);
        assert.ok((await stat(pcap)).size > 24, "tcpdump wrote the capture");

        const live = liveOutcome(daemon.stderr, await readFile(files.history, "utf8"));
        const replayed = await runReplay(files, pcap, scenario);

        assert.deepEqual(
          [...replayed.localAddresses].sort(),
          [lab.target.v4, lab.target.v6].sort(),
          "local addresses inferred from the host's answers",
        );
        for (const [source, n] of live.linesPerSource) {
          assert.ok(
            n < LOG_LINES_PER_SOURCE,
            `${source}: ${n} scan lines, the live log may have held some back`,
          );
        }
        const sources = lab.scanners.flatMap((s) => [s.v4, s.v6]).sort();
        assert.deepEqual([...live.blocks.keys()].sort(), sources, "the daemon blocked every scanner address");

        const why = `\nreplay: ${replayed.report}\ndaemon:${daemon.tail(3000)}`;
        assert.deepEqual(sorted(replayed.detections), sorted(live.detections), `the same detections${why}`);
        assert.deepEqual(sorted(replayed.blocks), sorted([...live.blocks.values()]), `the same blocks${why}`);
        assert.deepEqual(replayed.firstBySource, live.firstBySource, `each source's first detection${why}`);
        t.diagnostic(
          `${live.detections.size} detections, ${live.blocks.size} blocks equal; ${replayed.report.split("\n")[0]}`,
        );
        for (const source of sources) {
          assert.equal(
            replayed.firstVerified.get(source),
            true,
            `${source}: the blocking probe was answered by RST`,
          );
        }
      } finally {
        tcpdump?.kill("SIGTERM");
        daemon?.kill("SIGTERM");
        service.kill("SIGTERM");
        await Promise.all([tcpdump?.exited, daemon?.exited, service.exited]);
        await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
      }
    });
  }
});

/** Innocent connections to the service, then every scan from both scanners in parallel. */
async function scanAll(lab: Lab, scenario: Scenario, daemon: LabProcess): Promise<void> {
  const [first, second] = lab.scanners as [ScannerHost, ScannerHost];
  for (const target of [lab.target.v4, lab.target.v6]) {
    const r = await lab.exec(second, [
      "node",
      TCP_CLIENT_JS,
      "tcp",
      target,
      String(scenario.servicePort),
      "2000",
    ]);
    assert.ok(r.stdout.includes("hello"), `the service answers on ${target}: ${r.stdout}${r.stderr}`);
  }
  const nmap = (host: ScannerHost, family: 4 | 6, scan: string, ports: readonly number[]) =>
    lab.exec(host, nmapArgv({ scan, family, ports, target: family === 6 ? lab.target.v6 : lab.target.v4 }), {
      timeoutMs: 40_000,
    });
  await Promise.all(
    [first, second].map(async (host) => {
      for (const family of [4, 6] as const) {
        for (const scan of SCANS) {
          const r = await nmap(host, family, scan, scan === "-sU" ? scenario.udpPorts : scenario.tcpPorts);
          assert.ok(r.ok, `nmap ${scan} -${family}: ${r.stderr}`);
        }
      }
    }),
  );
  // Hits are logged in arrival order (unanswered ones after a /proc read): once the sentinel's
  // line is out, every earlier probe's is too.
  const r = await nmap(first, 4, "-sU", [scenario.sentinelPort]);
  assert.ok(r.ok, r.stderr);
  const sentinel = `from host: ${first.v4}/${first.v4} to UDP port: ${scenario.sentinelPort}`;
  await lab.waitFor(() => daemon.stderr.includes(sentinel), { timeoutMs: 10_000, what: sentinel });
}

async function fileHasUdpTo(path: string, port: number): Promise<boolean> {
  const opened = openCapture(bytesSource(await readFile(path)));
  if (!opened.ok) return false;
  const f = new PacketFacts();
  for (const frame of opened.capture.frames()) {
    const ok = decodeFrame(frame.data, frame.linkType, f, frame.wireLength) === "ok";
    if (ok && f.protocol === 17 && f.dstPort === port) return true;
  }
  return false;
}

async function stopProcess(proc: LabProcess): Promise<void> {
  proc.kill("SIGTERM");
  await proc.exited;
}

interface Outcome {
  /** `source proto port classification` */
  readonly detections: Set<string>;
  /** `source proto port` of each block */
  readonly blocks: Map<string, string>;
  readonly firstBySource: Map<string, string>;
}

function liveOutcome(
  stderr: string,
  history: string,
): Outcome & { readonly linesPerSource: Map<string, number> } {
  const detections = new Set<string>();
  const firstBySource = new Map<string, string>();
  const linesPerSource = new Map<string, number>();
  for (const line of stderr.split("\n")) {
    const m = SCAN_LINE.exec(line);
    if (m === null) continue;
    const [, classification, source, proto, port] = m as unknown as [string, string, string, string, string];
    const key = `${source} ${proto} ${port} ${classification}`;
    detections.add(key);
    if (!firstBySource.has(source)) firstBySource.set(source, key);
    linesPerSource.set(source, (linesPerSource.get(source) ?? 0) + 1);
  }
  const blocks = new Map<string, string>();
  for (const line of history.split("\n")) {
    const m = HISTORY_LINE.exec(line);
    if (m === null) continue;
    const [, source, port, proto] = m as unknown as [string, string, string, string];
    assert.ok(!blocks.has(source), `${source} blocked twice: ${history}`);
    blocks.set(source, `${source} ${proto} ${port}`);
  }
  return { detections, blocks, firstBySource, linesPerSource };
}

async function runReplay(
  files: DaemonFiles,
  pcap: string,
  scenario: Scenario,
): Promise<
  Omit<Outcome, "blocks"> & {
    blocks: string[];
    localAddresses: string[];
    firstVerified: Map<string, boolean>;
    /** The summary and stderr, for failure messages. */
    report: string;
  }
> {
  const { execFile } = await import("node:child_process");
  let replayStderr = "";
  const args = [REPLAY_JS, "replay", pcap, "-c", files.conf, "--json", ...scenario.modes];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile("node", args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, out, errText) => {
      if (err) reject(new Error(`replay failed: ${err.message}\n${errText}`));
      else {
        replayStderr = errText;
        resolve(out);
      }
    });
  });
  const events = stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as ReplayEvent | { type: "summary"; localAddresses: string[] });
  const detections = new Set<string>();
  const firstBySource = new Map<string, string>();
  const firstVerified = new Map<string, boolean>();
  const blocks: string[] = [];
  let localAddresses: string[] = [];
  let summary = "";
  for (const e of events) {
    if (e.type === "summary") {
      localAddresses = e.localAddresses;
      summary = JSON.stringify(e);
    } else if (e.type === "detection") {
      const key = `${e.address} ${e.proto} ${e.port} ${e.classification}`;
      detections.add(key);
      if (!firstBySource.has(e.address)) {
        firstBySource.set(e.address, key);
        firstVerified.set(e.address, e.verified);
      }
    } else if (e.type === "block") {
      blocks.push(`${e.address} ${e.mode.endsWith("tcp") ? "TCP" : "UDP"} ${e.port}`);
    }
  }
  return {
    detections,
    blocks,
    firstBySource,
    firstVerified,
    localAddresses,
    report: `${summary}\n${replayStderr}`,
  };
}

function sorted(items: Iterable<string>): string[] {
  return [...items].sort();
}
