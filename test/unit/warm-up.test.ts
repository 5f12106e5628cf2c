import assert from "node:assert/strict";
import { test } from "node:test";
import { warmUpPipeline } from "../../src/warm-up.js";

test("the warm-up runs every mode's hits and writes nothing anywhere", () => {
  const written: string[] = [];
  const realStdout = process.stdout.write;
  const realStderr = process.stderr.write;
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  const hits: number[] = [];
  try {
    for (const scanTrigger of [0, 3]) {
      hits.push(
        warmUpPipeline({
          modes: ["tcp", "udp", "stcp", "sudp", "atcp", "audp"],
          scanTrigger,
          blockTcp: 1,
          blockUdp: 0,
        }),
      );
    }
  } finally {
    process.stdout.write = realStdout;
    process.stderr.write = realStderr;
  }
  assert.deepEqual(written, []);
  // Per round: one Connect hit for each basic mode, four TCP classes for each TCP stealth
  // mode, one UDP scan for each UDP stealth mode; three rounds.
  assert.deepEqual(hits, [3 * (2 + 4 + 1 + 4 + 1), 3 * (2 + 4 + 1 + 4 + 1)]);
});
