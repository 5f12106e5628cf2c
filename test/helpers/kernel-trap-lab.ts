// The kernel trap alone in a lab's target namespace: kernel-trap-runner.js started there, and
// the hits it prints (one JSON line each). Shared by the kernel trap's lab tests.

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Hit } from "../../src/vocabulary.js";
import type { Lab, LabProcess } from "../netns/netns.js";
import { REPO_ROOT } from "./daemon.js";
import type { KernelTrapRunnerSpec } from "./kernel-trap-runner.js";

export const RUNNER_JS = join(REPO_ROOT, "dist/test/helpers/kernel-trap-runner.js");

/** A hit as the runner prints it, with its arrival time. */
export type RunnerHit = Hit & { readonly atMs: number };

/** Starts the runner with `spec`, added to `running` (the test stops those), once armed. */
export async function startTrapRunner(
  lab: Lab,
  running: LabProcess[],
  spec: KernelTrapRunnerSpec,
): Promise<LabProcess> {
  const proc = lab.spawn(lab.target, ["node", RUNNER_JS, JSON.stringify(spec)]);
  running.push(proc);
  await lab.waitForOutput(proc, /kernel-trap-runner: (armed|failed.*)/, 15_000, "stderr");
  assert.match(proc.stderr, /kernel-trap-runner: armed/, proc.tail());
  return proc;
}

/** The hits the runner has printed so far. */
export function runnerHits(proc: LabProcess): RunnerHit[] {
  return proc.stdout
    .split("\n")
    .filter((l) => l.startsWith('{"mode"'))
    .map((l) => JSON.parse(l) as RunnerHit);
}
