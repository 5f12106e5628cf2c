/** Which addresses of a capture are this host's, when `--local` does not say. */

import { LRUCache } from "lru-cache";
import { decodeFrame, formatDestination, formatSource, PacketFacts } from "../decode/packet.js";
import { isProbe } from "../detect/classify.js";
import { isReply } from "../detect/probe-rules.js";
import { REPLAY_LIMITS } from "../limits.js";
import type { CapturedFrame } from "../sensors/pcap-file.js";

export const MAX_INFERRED_ADDRESSES = REPLAY_LIMITS.maxInferredAddresses;

/**
 * This host's addresses as the capture shows them: every address that answered a TCP probe
 * (no ACK, no RST) with RST or SYN+ACK from the probed port to the probing one. A scanner's own
 * RSTs (to our SYN+ACK) answer no probe, so scanners are not taken for us; servers this host
 * connected to are (their SYN+ACK answers our SYN): harmless, since their packets to us are
 * not probes, but pass `--local` for captures of other traffic.
 */
export function inferLocalAddresses(
  frames: Iterable<CapturedFrame>,
  maxAddresses: number = MAX_INFERRED_ADDRESSES,
  maxTracked = 65_536,
): string[] {
  const f = new PacketFacts();
  const probes = new LRUCache<string, true>({ max: maxTracked });
  const found = new Set<string>();
  for (const frame of frames) {
    if (decodeFrame(frame.data, frame.linkType, f, frame.wireLength) !== "ok" || f.protocol !== 6) continue;
    if (isProbe(f.tcpFlags)) {
      const key = `${formatSource(f)} ${f.srcPort} ${formatDestination(f)} ${f.dstPort}`;
      probes.set(key, true);
    } else if (isReply(f.tcpFlags)) {
      const local = formatSource(f);
      if (found.has(local) || found.size >= maxAddresses) continue;
      if (probes.has(`${formatDestination(f)} ${f.dstPort} ${local} ${f.srcPort}`)) found.add(local);
    }
  }
  return [...found];
}
