import assert from "node:assert/strict";
import { test } from "node:test";
import type { Log } from "../../src/log/logger.js";
import { warmUpKernelTrapPath } from "../../src/sensors/kernel-trap-sensor.js";
import type { Hit } from "../../src/vocabulary.js";
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

test("the kernel trap path's warm-up decodes every kind of report into the hit a real one gives", () => {
  const hits: Hit[] = [];
  const logged: string[] = [];
  const log: Log = {
    notice: (m) => logged.push(m),
    warn: (m) => logged.push(m),
    error: (m) => logged.push(m),
    limited: (_k, m) => logged.push(m),
  };
  assert.equal(
    warmUpKernelTrapPath((h) => hits.push(h), log, 2),
    16,
  );
  assert.deepEqual(logged, []);
  // Two families × four kinds of report × two rounds, each decoded in full.
  assert.equal(hits.length, 16);
  const first = hits.slice(0, 8);
  assert.deepEqual(
    first.map((h) => [
      h.mode,
      h.address,
      h.port,
      h.classification,
      h.kernelBlocked === true,
      h.probationRepeat === true,
    ]),
    [
      ["stcp", "192.0.2.2", 1, "TCP SYN/Normal scan", true, false],
      ["stcp", "192.0.2.2", 1, "TCP SYN/Normal scan", false, false],
      ["stcp", "192.0.2.2", 1, "TCP SYN/Normal scan", false, true],
      ["stcp", "192.0.2.2", 1, "TCP SYN/Normal scan", false, false],
      ["sudp", "2001:db8::2", 1, "UDP scan", true, false],
      ["sudp", "2001:db8::2", 1, "UDP scan", false, false],
      ["sudp", "2001:db8::2", 1, "UDP scan", false, true],
      ["sudp", "2001:db8::2", 1, "UDP scan", false, false],
    ],
  );
});
