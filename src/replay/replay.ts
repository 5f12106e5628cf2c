/**
 * `portsentry replay`: the stealth and advanced modes run offline over a capture file. Each
 * frame goes through the live path's own rules (decodeFrame, then detect/probe-rules.ts: own source,
 * reply, watched port, ACK/RST), then the real TriggerTable, Policy and Pipeline, with time
 * taken from the packets. The reactor only records what it would do: no command runs, no
 * firewall or file is touched. No I/O here: frames come in, events and a summary go out.
 *
 * What the capture itself must tell (see docs/replay.md):
 * - Listeners. Live, a TCP probe answered by this host's RST is a trap, one answered by
 *   SYN+ACK met a listener; an unanswered one is checked in /proc. Here the answer is looked
 *   for in the capture within `replyWindowMs` of capture time; an unanswered probe is a trap
 *   marked unverified, unless the last answer from that port said a socket listened. A UDP
 *   probe is answered by a datagram back from the probed port (a listener) or by this host's
 *   ICMP port unreachable (a trap), else unverified.
 * - This host's addresses: given (`--local`), or inferred as the hosts that answered a TCP
 *   probe with RST or SYN+ACK from the probed port (`inferLocalAddresses`).
 *
 * Hits reach the pipeline in capture order (a probe waits for its answer, and those behind it
 * wait for it), at their capture times, kept monotonic as a live clock would be.
 */

import { REPLAY_LIMITS } from "../limits.js";
import type { CapturedFrame } from "../sensors/pcap-file.js";
import { ReplayEngine } from "./engine.js";
import type { ReplayEvent, ReplayOptions, ReplaySummary } from "./events.js";
import { inferLocalAddresses, MAX_INFERRED_ADDRESSES } from "./local-addresses.js";

const FRAMES_PER_PAUSE_CHECK = REPLAY_LIMITS.framesPerPauseCheck;

/**
 * Runs the replay: `frames()` is called once, or twice when local addresses are inferred.
 * Synchronous, so each would-block's settled reaction waits for the end of the run: for
 * captures of bounded size (tests, the bench); the CLI runs `replayCaptureAsync`.
 */
export function replayCapture(
  frames: () => Iterable<CapturedFrame>,
  options: ReplayOptions,
  onEvent: (event: ReplayEvent) => void,
): ReplaySummary {
  const { locals, from } = localAddresses(frames, options);
  const engine = new ReplayEngine(options, locals, onEvent);
  for (const frame of frames()) engine.frame(frame);
  return engine.finish(from);
}

/** This host's addresses: `--local`'s, or inferred from the capture (a first pass over it). */
function localAddresses(
  frames: () => Iterable<CapturedFrame>,
  options: ReplayOptions,
): { locals: readonly string[]; from: "option" | "inferred" } {
  const given = options.localAddresses;
  if (given !== undefined && given.length > 0) return { locals: given, from: "option" };
  const max = options.maxInferredAddresses ?? MAX_INFERRED_ADDRESSES;
  return { locals: inferLocalAddresses(frames(), max), from: "inferred" };
}

/**
 * replayCapture for a consumer that can fall behind (stdout into a pipe): every few frames
 * `pause()` may return a promise, and reading waits for it, so that events never pile up in
 * memory faster than they are written. Memory stays bounded by the tables' sizes, whatever
 * the capture's (docs/replay.md).
 */
export async function replayCaptureAsync(
  frames: () => Iterable<CapturedFrame>,
  options: ReplayOptions,
  onEvent: (event: ReplayEvent) => void,
  pause: () => Promise<void> | undefined,
): Promise<ReplaySummary> {
  const { locals, from } = localAddresses(frames, options);
  const engine = new ReplayEngine(options, locals, onEvent);
  let n = 0;
  for (const frame of frames()) {
    engine.frame(frame);
    // Every few frames the microtasks run too: each block's reaction is a promise settled
    // there, and a run that never yields would hold every one of them to the end.
    if (++n % FRAMES_PER_PAUSE_CHECK === 0) await (pause() ?? Promise.resolve());
  }
  return engine.finish(from);
}
