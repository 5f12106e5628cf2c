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
  try {
    for (const scanTrigger of [0, 3]) {
      warmUpPipeline({
        modes: ["tcp", "udp", "stcp", "sudp", "atcp", "audp"],
        scanTrigger,
        blockTcp: 1,
        blockUdp: 0,
      });
    }
  } finally {
    process.stdout.write = realStdout;
    process.stderr.write = realStderr;
  }
  assert.deepEqual(written, []);
});
