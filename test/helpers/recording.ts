/** Recording a lab interface with tcpdump. */

import type { Lab, LabProcess, NsRef } from "../netns/netns.js";

export interface RecordingOptions {
  /** tcpdump options placed before `-w`, e.g. `["-s", "200"]`. */
  readonly options?: readonly string[];
  /** The capture filter, e.g. `["host", "192.0.2.10"]`. */
  readonly filter?: readonly string[];
}

/**
 * Starts tcpdump on `iface` in `where`, writing to `file`, and waits until it listens. Every
 * packet is written as it comes (`--immediate-mode -U`): a ring block not yet handed over is
 * lost at SIGINT.
 */
export async function startRecording(
  lab: Lab,
  where: NsRef,
  iface: string,
  file: string,
  o: RecordingOptions = {},
): Promise<LabProcess> {
  const dump = lab.spawn(where, [
    "tcpdump",
    ...["-i", iface, "-n", "--immediate-mode", "-U"],
    ...(o.options ?? []),
    ...["-w", file],
    ...(o.filter ?? []),
  ]);
  await lab.waitForOutput(dump, "listening on", 10_000, "stderr");
  return dump;
}

/** Stops a recording; its file is complete when this resolves. */
export async function stopRecording(dump: LabProcess): Promise<void> {
  dump.kill("SIGINT");
  await dump.exited;
}
