/**
 * The detection corpus (test/corpus/): each capture file is replayed through the replay engine
 * (the live capture's rules: replay and live share the engine) and every packet's verdict is
 * held to the one test/corpus/cases.ts states. The files are checked against their definitions
 * first, so they cannot drift; after a change to the definitions, write them again with
 * `PORTSENTRY_WRITE_CORPUS=1 node --test dist/test/unit/corpus.test.js`. No root needed.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { emptyPorts } from "../../src/port-set.js";
import type { ReplayEvent } from "../../src/replay/events.js";
import { replayCapture } from "../../src/replay/replay.js";
import { offlineCaptureSensor } from "../../src/sensors/capture-offline.js";
import { DEFAULT_CLOCKS } from "../../src/sensors/capture-sensor.js";
import { bytesSource, openCapture } from "../../src/sensors/pcap-file.js";
import { CORPUS, type CorpusCase, HOST, HOST6 } from "../corpus/cases.js";
import { TEST_REPLAY_LIMITS, testConfig } from "../helpers/config.js";
import { MemoryLog } from "../helpers/memory-log.js";
import { ethernetFrame, ipPacket, pcapFile } from "../helpers/pcap-builder.js";

const T0_S = 1_700_000_000;
const WRITE = process.env.PORTSENTRY_WRITE_CORPUS === "1";

function tsUsOf(ms: number): number {
  return T0_S * 1_000_000 + Math.round(ms * 1000);
}

/** The case's capture file, byte for byte. */
function pcapOf(c: CorpusCase): Uint8Array {
  return pcapFile(
    c.packets.map((p) => {
      const us = Math.round(p.ms * 1000);
      return {
        seconds: T0_S + Math.floor(us / 1_000_000),
        fraction: us % 1_000_000,
        data: ethernetFrame(p.ip),
      };
    }),
  );
}

describe("the detection corpus", () => {
  for (const c of CORPUS) {
    test(`${c.name}: ${c.covers}`, () => {
      const path = `test/corpus/${c.name}.pcap`;
      const expected = pcapOf(c);
      if (WRITE) writeFileSync(path, expected);
      const bytes = new Uint8Array(readFileSync(path));
      assert.deepEqual(bytes, expected, `${path} differs from its definition: write the corpus again`);

      const opened = openCapture(bytesSource(bytes));
      assert.ok(opened.ok);
      const events: ReplayEvent[] = [];
      const summary = replayCapture(
        () => opened.capture.frames(),
        {
          config: testConfig("/nonexistent", c.config),
          modes: c.modes,
          isIgnored: () => false,
          localAddresses: [HOST, HOST6],
          limits: TEST_REPLAY_LIMITS,
        },
        (e) => events.push(e),
      );

      const hits = events.flatMap((e) =>
        e.type === "detection" ? [`${e.tsUs} ${e.port} ${e.classification}`] : [],
      );
      const wantHits = c.packets.flatMap((p) =>
        p.verdict !== undefined && "hit" in p.verdict
          ? [`${tsUsOf(p.ms)} ${p.verdict.port} ${p.verdict.hit}`]
          : [],
      );
      assert.deepEqual(hits, wantHits, "hits");
      assert.equal(summary.hits, wantHits.length, "every hit is a detection (none ignored)");

      const wantDrops: Record<string, number> = {};
      for (const p of c.packets) {
        if (p.verdict !== undefined && "drop" in p.verdict)
          wantDrops[p.verdict.drop] = (wantDrops[p.verdict.drop] ?? 0) + 1;
      }
      if (c.samePortRepeats !== undefined) assert.equal(summary.samePortRepeats, c.samePortRepeats);
      if (c.decisions !== undefined) {
        const decided = events.flatMap((e) => (e.type === "detection" ? [e.decision] : []));
        assert.deepEqual(decided, c.decisions, "decisions");
      }
      for (const [reason, n] of Object.entries(wantDrops)) {
        assert.equal(
          summary.drops[reason] ?? 0,
          n,
          `drops: ${reason} (all: ${JSON.stringify(summary.drops)})`,
        );
      }
    });
  }
});

/**
 * The live path over the same captures (offlineCaptureSensor: the capture engine, the listener
 * gate, record → Hit), for the cases whose verdicts do not rest on capture time (live, time is
 * the monotonic clock: the flow table's memory and LISTEN_GRACE are held to the corpus by
 * replay above and by the lab tests).
 */
const TIMELESS = new Set(["reply-after-memory", "restart-grace", "restart-grace-off"]);
const SENTINEL = "198.51.100.99";

describe("the detection corpus, live path", () => {
  for (const c of CORPUS.filter((k) => !TIMELESS.has(k.name))) {
    test(`${c.name}: the live capture path gives the same hits`, async () => {
      const hits: string[] = [];
      const sensor = offlineCaptureSensor(
        c.modes,
        testConfig("/nonexistent", c.config),
        [HOST, HOST6],
        (hit) => hits.push(`${hit.address} ${hit.port} ${hit.classification}`),
        DEFAULT_CLOCKS,
        new MemoryLog({ keep: false }),
        { readListeners: () => emptyPorts() },
      );
      // Unanswered probes leave the listener gate in order: a last unanswered one from a
      // sentinel source says every probe before it was judged.
      const tcpMode = c.modes.some((m) => m === "stcp" || m === "atcp");
      const sentinel = ipPacket({
        src: SENTINEL,
        dst: HOST,
        proto: tcpMode ? "tcp" : "udp",
        sport: 9,
        dport: 1,
      });
      const frames = [...c.packets.map((p) => ({ ms: p.ms, ip: p.ip })), { ms: 1e6, ip: sentinel }];
      sensor.read(frames.map((p) => ({ data: ethernetFrame(p.ip), timestampUs: tsUsOf(p.ms) })));
      try {
        const deadline = Date.now() + 10_000;
        while (!hits.some((h) => h.startsWith(`${SENTINEL} `))) {
          assert.ok(Date.now() < deadline, `the sentinel's hit; hits so far: ${JSON.stringify(hits)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      } finally {
        sensor.close();
      }
      const want = c.packets.flatMap((p) => {
        if (p.verdict === undefined || !("hit" in p.verdict)) return [];
        return [`${sourceOf(p.ip)} ${p.verdict.port} ${p.verdict.hit}`];
      });
      assert.deepEqual(hits.filter((h) => !h.startsWith(`${SENTINEL} `)).sort(), want.sort());
    });
  }
});

/** The source address of an IP packet, as the sensor writes it. */
function sourceOf(ip: Uint8Array): string {
  if (ip[0]! >> 4 === 4) return Array.from(ip.subarray(12, 16)).join(".");
  const groups: string[] = [];
  for (let i = 8; i < 24; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
  // Documentation addresses here compress as 2001:db8:5::7 (one run of zeros in the middle).
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}
