/**
 * Runs the stealth/advanced capture sensor alone, for tests and benchmarks inside a lab
 * namespace (a Node process cannot switch namespaces: spawn this with `lab.spawn`).
 *
 *   node dist/test/helpers/capture-runner.js '<json RunnerSpec>'
 *
 * stderr: every log line, then `capture-runner: armed` (or `capture-runner: failed: ...`, exit 1).
 * stdout: one JSON object per hit; `{"stats": ...}` on SIGUSR2; SIGTERM closes and exits 0.
 * With `quiet`, hits are only counted (benchmarks): stdout carries the stats lines only.
 */

import type { Config } from "../../src/config/types.js";
import { type CaptureSensorOptions, openCaptureSensor } from "../../src/sensors/capture-sensor.js";
import type { Hit, Mode } from "../../src/vocabulary.js";
import { testConfig } from "./config.js";
import { MemoryLog } from "./memory-log.js";

export interface RunnerSpec {
  readonly modes: readonly Mode[];
  readonly config?: Partial<Config>;
  readonly interfaces?: readonly string[];
  readonly options?: CaptureSensorOptions;
  readonly quiet?: boolean;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as RunnerSpec;
  const config = testConfig("/nonexistent", spec.config ?? {});
  let hits = 0;
  const onHit = (hit: Hit): void => {
    hits++;
    if (!spec.quiet) process.stdout.write(`${JSON.stringify(hit)}\n`);
  };
  const opened = await openCaptureSensor(
    spec.modes,
    config,
    spec.interfaces ?? [],
    onHit,
    new MemoryLog({ stderr: true, keep: false }),
    undefined,
    spec.options ?? {},
  );
  if (!opened.ok) {
    process.stderr.write(`capture-runner: failed: ${opened.error}\n`);
    process.exitCode = 1;
    return;
  }
  const sensor = opened.sensor;
  process.on("SIGUSR2", () => {
    process.stdout.write(
      `${JSON.stringify({ stats: sensor.stats(), hitsSeen: hits, interfaces: sensor.interfaces() })}\n`,
    );
  });
  const stop = (): void => {
    void sensor.close().then(() => {
      process.stderr.write("capture-runner: closed\n");
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stderr.write(`capture-runner: armed on ${sensor.interfaces().join(",")}\n`);
}

void main();
