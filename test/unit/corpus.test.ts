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
import type { ReplayEvent } from "../../src/replay/events.js";
import { replayCapture } from "../../src/replay/replay.js";
import { bytesSource, openCapture } from "../../src/sensors/pcap-file.js";
import { CORPUS, type CorpusCase, HOST, HOST6 } from "../corpus/cases.js";
import { testConfig } from "../helpers/config.js";
import { ethernetFrame, pcapFile } from "../helpers/pcap-builder.js";

const T0_S = 1_700_000_000;
const WRITE = process.env.PORTSENTRY_WRITE_CORPUS === "1";
const LIMITS = { maxSources: 1000, maxBlocks: 1000, repeatLogWindowMs: 60_000, maxRepeatEntries: 100 };

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
          limits: LIMITS,
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
