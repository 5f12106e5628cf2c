import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Config } from "../../src/config/types.js";
import type { StealthMode } from "../../src/port-set.js";
import type { ReplayEvent, ReplayOptions, ReplaySummary } from "../../src/replay/events.js";
import { inferLocalAddresses } from "../../src/replay/local-addresses.js";
import { replayCapture } from "../../src/replay/replay.js";
import type { CapturedFrame } from "../../src/sensors/pcap-file.js";
import { TEST_REPLAY_LIMITS, testConfig } from "../helpers/config.js";
import { ACK, FIN, PSH, RST, SYN, URG } from "../helpers/pcap-builder.js";
import { frameAt, HOST, HOST6, probeFrames, T0_US } from "../helpers/probe-frames.js";

const SCANNER = "192.0.2.2";
const OTHER = "192.0.2.3";
const SECOND_MS = 1000;

const at = frameAt;
const probe = probeFrames;

interface Run {
  readonly events: ReplayEvent[];
  readonly summary: ReplaySummary;
}

function run(
  frames: readonly CapturedFrame[],
  config: Partial<Config> = {},
  o: Partial<ReplayOptions> & { modes?: StealthMode[] } = {},
): Run {
  const events: ReplayEvent[] = [];
  const summary = replayCapture(
    () => frames,
    {
      config: testConfig("/nonexistent", { tcpPorts: [1, 11, 143], udpPorts: [1, 7, 9], ...config }),
      modes: o.modes ?? ["stcp", "sudp"],
      isIgnored: o.isIgnored ?? ((a) => a === "127.0.0.1"),
      localAddresses: o.localAddresses,
      limits: TEST_REPLAY_LIMITS,
      ...(o.replyWindowMs === undefined ? {} : { replyWindowMs: o.replyWindowMs }),
    },
    (e) => events.push(e),
  );
  return { events, summary };
}

const detections = (r: Run) =>
  r.events.flatMap((e) => (e.type === "detection" ? [`${e.address} ${e.port} ${e.decision}`] : []));
const blocks = (r: Run) => r.events.flatMap((e) => (e.type === "block" ? [e.address] : []));

describe("replay: the live path's rules over frames", () => {
  test("a SYN probe answered by RST is a verified detection in the live log format, then a would-block", () => {
    const r = run(probe(0, SCANNER, 143), { killHostsDeny: "ALL: $TARGET$", killFirewall: "nftables" });
    assert.deepEqual(
      r.events.map((e) => e.message),
      [
        `attackalert: TCP SYN/Normal scan from host: ${SCANNER}/${SCANNER} to TCP port: 143`,
        `would block ${SCANNER} (stcp, port 143) forever via hosts.deny "ALL: ${SCANNER}", nftables`,
      ],
    );
    const d = r.events[0];
    assert.ok(d?.type === "detection");
    assert.equal(d.verified, true);
    assert.equal(d.scan, "syn");
    assert.equal(d.tsUs, T0_US);
    assert.deepEqual(r.summary.localAddresses, [HOST]);
    assert.equal(r.summary.localFrom, "inferred");
    assert.equal(r.summary.answered, 1);
  });

  test("RST = trap, SYN+ACK = listener (no hit), no answer = trap marked unverified", () => {
    const r = run(
      [
        ...probe(0, SCANNER, 143, { answer: "syn-ack" }),
        ...probe(10, SCANNER, 11, { answer: "rst" }),
        ...probe(20, SCANNER, 1, { answer: "none" }),
      ],
      { blockTcp: 0 },
    );
    const found = r.events.flatMap((e) =>
      e.type === "detection" ? [`${e.port} ${e.answer} ${e.verified}`] : [],
    );
    assert.deepEqual(found, ["11 rst true", "1 none false"]);
    assert.equal(r.summary.drops["answered-by-listener"], 1);
    assert.equal(r.summary.unverified, 1);
    assert.equal(r.summary.hits, 2);
  });

  test("UDP: ICMP port unreachable = trap, verified, as live; IPv4 and IPv6; no answer = unverified", () => {
    const r = run(
      [
        ...probe(0, SCANNER, 7, { proto: "udp", answer: "icmp-unreachable" }),
        ...probe(10, "2001:db8::2", 9, { proto: "udp", answer: "icmp-unreachable" }),
        ...probe(20, SCANNER, 1, { proto: "udp", answer: "none" }),
      ],
      { blockUdp: 0 },
      { localAddresses: [HOST, HOST6] },
    );
    const found = r.events.flatMap((e) =>
      e.type === "detection" ? [`${e.port} ${e.answer} ${e.verified}`] : [],
    );
    assert.deepEqual(found, ["7 icmp-unreachable true", "9 icmp-unreachable true", "1 none false"]);
    assert.equal(r.summary.unverified, 1);
  });

  test("an unanswered probe to a port that last answered SYN+ACK is taken for a listener", () => {
    const r = run(
      [
        ...probe(0, SCANNER, 143, { answer: "syn-ack" }),
        ...probe(100, SCANNER, 143, { flags: FIN, answer: "none" }),
        ...probe(200, SCANNER, 11, { flags: FIN, answer: "none" }),
      ],
      { blockTcp: 0 },
    );
    assert.deepEqual(detections(r), [`${SCANNER} 11 log-only`]);
    assert.equal(r.summary.drops["listener-inferred"], 1);
  });

  test("classification: FIN, NULL, XMAS, odd flags; ACK/RST are not probes; UDP", () => {
    const r = run(
      [
        ...probe(0, SCANNER, 1, { flags: FIN }),
        ...probe(1, SCANNER, 11, { flags: 0 }),
        ...probe(2, SCANNER, 143, { flags: FIN | PSH | URG }),
        ...probe(3, SCANNER, 143, { flags: SYN | FIN }),
        ...probe(4, SCANNER, 143, { flags: ACK, answer: "none" }),
        ...probe(5, SCANNER, 7, { proto: "udp" }),
      ],
      { blockTcp: 0, blockUdp: 0 },
    );
    const kinds = r.events.flatMap((e) => (e.type === "detection" ? [e.classification] : []));
    assert.deepEqual(kinds, [
      "TCP FIN scan",
      "TCP NULL scan",
      "TCP XMAS scan",
      "Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 0 PSH: 0 URG: 0 RST: 0",
      "UDP scan",
    ]);
    assert.equal(r.summary.drops["not-probe"], 1);
    assert.ok(
      r.events.some(
        (e) => e.message === "attackalert: Ignoring UDP response per configuration file setting.",
      ),
    );
  });

  test("SCAN_TRIGGER counts hits across packets, within TRIGGER_WINDOW", () => {
    const scan = [...probe(0, SCANNER, 1), ...probe(1000, SCANNER, 11), ...probe(2000, SCANNER, 143)];
    const three = run(scan, { scanTrigger: 3 });
    assert.deepEqual(detections(three), [
      `${SCANNER} 1 counted`,
      `${SCANNER} 11 counted`,
      `${SCANNER} 143 respond`,
    ]);
    assert.deepEqual(blocks(three), [SCANNER]);
    const block = three.events.find((e) => e.type === "block");
    assert.equal(block?.tsUs, T0_US + 2000 * 1000, "dated by the packet that reached the trigger");

    // Hits 1.5 s apart with a 1 s window: the count restarts each time.
    const slow = run([...probe(0, SCANNER, 1), ...probe(1500, SCANNER, 11), ...probe(3000, SCANNER, 143)], {
      scanTrigger: 2,
      triggerWindowSec: 1,
      listenGraceSec: 600,
      detectAckScans: false,
    });
    assert.deepEqual(blocks(slow), []);
  });

  test("sources no host can own are never blocked; an IPv4-mapped source is its IPv4 address", () => {
    const never = ["255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0", "::", "ff02::1"];
    const frames = [
      ...never.flatMap((src, i) => probe(i, src, 143, { answer: "none" })),
      // This host, IPv4-mapped: ignored like the host itself; another host mapped: protected.
      ...probe(10, "::ffff:192.0.2.1", 143, { answer: "none", dst: HOST6 }),
      ...probe(11, "::ffff:198.51.100.7", 143, { answer: "none", dst: HOST6 }),
      ...probe(20, SCANNER, 143),
    ];
    const r = run(frames, {}, { localAddresses: [HOST, HOST6] });
    assert.deepEqual(detections(r), [
      ...never.map((a) => `${a} 143 protected`),
      "198.51.100.7 143 protected",
      `${SCANNER} 143 respond`,
    ]);
    assert.deepEqual(blocks(r), [SCANNER]);
    assert.equal(r.summary.ignored, 1, "the mapped address of this host");
  });

  test("a blocked host's later probes are 'already blocked', logged once per window", () => {
    const r = run([
      ...probe(0, SCANNER, 1),
      ...probe(10, SCANNER, 11),
      ...probe(20, SCANNER, 143, { answer: "none" }),
    ]);
    assert.deepEqual(detections(r), [
      `${SCANNER} 1 respond`,
      `${SCANNER} 11 already-blocked`,
      `${SCANNER} 143 already-blocked`,
    ]);
    const already = r.events.filter((e) => e.type === "log" && e.message.includes("is already blocked"));
    assert.equal(already.length, 1);
    assert.equal(r.summary.wouldBlock, 1);
  });

  test("MAX_BLOCKS_PER_MINUTE holds blocks back by capture time, and lets them through a minute later", () => {
    const sources = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"];
    const burst = sources.flatMap((s, i) => probe(i, s, 143));
    const later = sources.flatMap((s, i) => probe(61 * SECOND_MS + i, s, 11));
    const r = run([...burst, ...later], { maxBlocksPerMinute: 2 });
    assert.deepEqual(blocks(r), ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"]);
    assert.equal(r.summary.heldBack, 2);
    const held = r.events.filter((e) => e.type === "log" && e.message.includes("limit of 2 new blocks"));
    assert.equal(held.length, 2);
    const when = r.events.flatMap((e) => (e.type === "block" ? [(e.tsUs - T0_US) / 1000] : []));
    assert.deepEqual(when, [0, 1, 61_002, 61_003]);
  });

  test("BLOCK_TIMEOUT: a block lifted by capture time, the next one longer (BLOCK_TIMEOUT_GROWTH)", () => {
    const r = run([...probe(0, SCANNER, 1), ...probe(15 * SECOND_MS, SCANNER, 11)], {
      blockTimeoutSec: 10,
      blockTimeoutGrowth: 2,
    });
    assert.deepEqual(
      r.events.map((e) => e.type),
      ["detection", "block", "expiry", "detection", "block"],
    );
    const bans = r.events.flatMap((e) => (e.type === "block" ? [e.banSec] : []));
    assert.deepEqual(bans, [10, 20]);
    assert.equal(r.events[2]?.message, `attackalert: Host ${SCANNER} block has expired and was removed`);
    assert.match(r.events[4]?.message ?? "", /for 20s in the history and blocked files only/);
  });

  test("ignored sources, this host and other hosts' traffic are not detections", () => {
    const r = run(
      [
        ...probe(0, OTHER, 143),
        ...probe(1, SCANNER, 143, { dst: "198.51.100.7", answer: "none" }), // to another host
        ...probe(2, HOST, 143, { dst: HOST }), // from ourselves
        ...probe(3, SCANNER, 143),
      ],
      {},
      { isIgnored: (a) => a === OTHER },
    );
    assert.deepEqual(detections(r), [`${SCANNER} 143 respond`]);
    assert.equal(r.summary.ignored, 1);
    assert.ok((r.summary.drops["not-local"] ?? 0) >= 1);
    assert.ok((r.summary.drops["own-source"] ?? 0) + (r.summary.drops["own-unpaired"] ?? 0) >= 1);
  });

  test("hits reach the pipeline in capture order: an unanswered probe is not overtaken", () => {
    const r = run(
      [...probe(0, SCANNER, 1, { answer: "none" }), ...probe(1, OTHER, 11), ...probe(2, SCANNER, 143)],
      { scanTrigger: 2 },
    );
    assert.deepEqual(detections(r), [
      `${SCANNER} 1 counted`,
      `${OTHER} 11 counted`,
      `${SCANNER} 143 respond`,
    ]);
  });

  test("advanced modes watch every port below ADVANCED_PORTS_* but the excluded ones; IPv6", () => {
    const r = run(
      [...probe(0, "2001:db8::2", 666), ...probe(1, "2001:db8::3", 113), ...probe(2, SCANNER, 1500)],
      { blockTcp: 0 },
      { modes: ["atcp"] },
    );
    assert.deepEqual(detections(r), ["2001:db8::2 666 log-only"]);
    assert.equal(r.summary.drops["not-watched"], 2);
    assert.deepEqual([...r.summary.localAddresses].sort(), [HOST, HOST6]);
  });

  test("--local: given addresses replace the inference", () => {
    const frames = probe(0, SCANNER, 143, { answer: "none", dst: "192.0.2.50" });
    assert.deepEqual(run(frames).summary.localAddresses, []);
    const r = run(frames, {}, { localAddresses: ["192.0.2.50"] });
    assert.deepEqual(detections(r), [`${SCANNER} 143 respond`]);
    assert.equal(r.summary.localFrom, "option");
  });

  test("IP options give the live extra line; KILL_RUN_CMD and KILL_ROUTE are shown expanded, never run", () => {
    const frames = [
      at(0, { src: SCANNER, dst: HOST, proto: "tcp", sport: 5, dport: 143, flags: SYN, ipOptions: true }),
    ];
    const r = run(
      frames,
      {
        killRoute: "/sbin/route add -host $TARGET$ reject",
        killRunCmd: "/usr/local/bin/notify $TARGET$ $PORT$ $MODE$",
        killRunCmdFirst: true,
        blockTimeoutSec: 86_400,
      },
      { localAddresses: [HOST] },
    );
    assert.deepEqual(
      r.events.map((e) => e.message),
      [
        `attackalert: TCP SYN/Normal scan from host: ${SCANNER}/${SCANNER} to TCP port: 143`,
        `attackalert: Packet from host: ${SCANNER}/${SCANNER} to TCP port: 143 has IP options set (detection avoidance technique).`,
        `would block ${SCANNER} (stcp, port 143) for 1d via command "/usr/local/bin/notify ${SCANNER} 143 stcp", route "/sbin/route add -host ${SCANNER} reject"`,
      ],
    );
  });
});

describe("replay: inferring this host's addresses", () => {
  test("hosts that answered a probe, not a scanner's RST to our SYN+ACK", () => {
    const s = 50_000;
    const frames = [
      at(0, { src: SCANNER, dst: HOST, proto: "tcp", sport: s, dport: 22, flags: SYN }),
      at(0.1, { src: HOST, dst: SCANNER, proto: "tcp", sport: 22, dport: s, flags: SYN | ACK }),
      at(0.2, { src: SCANNER, dst: HOST, proto: "tcp", sport: s, dport: 22, flags: RST }),
      // A stray RST that answers no probe says nothing.
      at(1, { src: OTHER, dst: HOST, proto: "tcp", sport: 80, dport: 1234, flags: RST | ACK }),
    ];
    assert.deepEqual(inferLocalAddresses(frames), [HOST]);
  });
});
