/**
 * Replay equals live by construction: the same synthetic frames go through the live capture
 * path (the capture engine with its probe engine, the listener gate, record → Hit, without a
 * capture: offlineCaptureSensor) and the stages from the one builder, and through
 * `portsentry replay`; both give the same hits with the same decisions. No root needed.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { LIMITS } from "../../src/limits.js";
import { emptyPorts } from "../../src/port-set.js";
import type { ReplayEvent } from "../../src/replay/events.js";
import { replayCapture } from "../../src/replay/replay.js";
import { offlineCaptureSensor } from "../../src/sensors/capture-offline.js";
import { DEFAULT_CLOCKS } from "../../src/sensors/capture-sensor.js";
import type { CapturedFrame } from "../../src/sensors/pcap-file.js";
import { buildStages } from "../../src/stages.js";
import { BlockRegistry } from "../../src/state/blocks.js";
import type { Hit } from "../../src/vocabulary.js";
import { testConfig } from "../helpers/config.js";
import { MemoryLog } from "../helpers/memory-log.js";
import { FIN, PSH, URG } from "../helpers/pcap-builder.js";
import { HOST, HOST6, probeFrames } from "../helpers/probe-frames.js";

const IGNORED = "198.51.100.9";

const config = testConfig("/nonexistent", {
  tcpPorts: [23, 25, 80, 111, 143],
  udpPorts: [7],
  scanTrigger: 2,
});
const isIgnored = (a: string) => a === IGNORED || a === HOST || a === HOST6;

/** A probe at `ms`, and this host's answer 20 µs later unless `answer` is "none". */
function probe(
  ms: number,
  src: string,
  port: number,
  answer: "rst" | "syn-ack" | "icmp-unreachable" | "none",
  o: { flags?: number; proto?: "tcp" | "udp" } = {},
): CapturedFrame[] {
  return probeFrames(ms, src, port, { ...o, answer });
}

/** A scan day in miniature: SYN, FIN, XMAS and UDP probes, a listener, an ignored source, IPv6. */
const FRAMES: readonly CapturedFrame[] = [
  ...probe(0, "192.0.2.2", 143, "rst"),
  ...probe(10, "192.0.2.2", 80, "syn-ack"), // a listener: no hit
  ...probe(20, "192.0.2.2", 23, "rst", { flags: FIN }),
  ...probe(30, "192.0.2.2", 25, "rst"), // already blocked by now
  ...probe(40, "2001:db8::3", 111, "rst", { flags: FIN | PSH | URG }),
  ...probe(50, "2001:db8::3", 7, "icmp-unreachable", { proto: "udp" }),
  ...probe(60, IGNORED, 143, "rst"),
  ...probe(70, "192.0.2.4", 7, "icmp-unreachable", { proto: "udp" }),
  // Unanswered (a firewall dropped our answer): the live gate asks the listeners, replay its memory.
  ...probe(80, "192.0.2.4", 111, "none"),
];

interface Judged {
  readonly address: string;
  readonly port: number;
  readonly classification: string;
  readonly decision: string;
}

function live(): Promise<Judged[]> {
  const out: Judged[] = [];
  const registry = new BlockRegistry("/nonexistent/portsentry.blocked", LIMITS.maxBlocks);
  const { pipeline } = buildStages({
    config,
    limits: LIMITS,
    queries: {
      isIgnored,
      neverBlockReason: () => undefined,
      isBlocked: (a) => registry.has(a),
      priorOffences: () => 0,
    },
    log: new MemoryLog({ keep: false }),
    registry,
    reactor: { respond: async () => {} },
    recordOffence: () => {},
    wallClockMs: Date.now,
  });
  const onHit = (hit: Hit) => {
    const d = pipeline.onHit(hit);
    if (d.kind === "ignored") return;
    out.push({ address: hit.address, port: hit.port, classification: hit.classification, decision: d.kind });
  };
  const sensor = offlineCaptureSensor(
    ["stcp", "sudp"],
    config,
    [HOST, HOST6],
    onHit,
    DEFAULT_CLOCKS,
    new MemoryLog({ keep: false }),
    { readListeners: () => emptyPorts() },
  );
  sensor.read(FRAMES.map((f) => ({ data: f.data, timestampUs: f.timestampUs })));
  // The unanswered probe waits 5 ms for an answer, then for a listener snapshot.
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = () => {
      if (out.length >= 7) {
        sensor.close();
        resolve(out);
      } else if (Date.now() > deadline) {
        sensor.close();
        reject(new Error(`live path gave ${out.length} hits: ${JSON.stringify(out)}`));
      } else setTimeout(poll, 10);
    };
    poll();
  });
}

function replay(): Judged[] {
  const events: ReplayEvent[] = [];
  replayCapture(
    () => FRAMES,
    { config, modes: ["stcp", "sudp"], isIgnored, localAddresses: [HOST, HOST6], limits: LIMITS },
    (e) => events.push(e),
  );
  return events.flatMap((e) =>
    e.type === "detection"
      ? [{ address: e.address, port: e.port, classification: e.classification, decision: e.decision }]
      : [],
  );
}

test("the same frames give the same hits and decisions live and in replay", async () => {
  const fromReplay = replay();
  const fromLive = await live();
  assert.deepEqual(fromLive, fromReplay);
  // The run says something: counted, then blocked, then already blocked; no listener, no ignored source.
  assert.deepEqual(
    fromReplay.map((j) => `${j.address} ${j.port} ${j.decision}`),
    [
      "192.0.2.2 143 counted",
      "192.0.2.2 23 respond",
      "192.0.2.2 25 already-blocked",
      "2001:db8::3 111 counted",
      "2001:db8::3 7 respond",
      "192.0.2.4 7 counted",
      "192.0.2.4 111 respond",
    ],
  );
});
