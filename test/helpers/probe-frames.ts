/** Captured frames of probes and this host's answers, for the replay and live-equals-replay tests. */

import type { CapturedFrame } from "../../src/sensors/pcap-file.js";
import { ACK, ethernetFrame, type PacketSpec, portUnreachablePacket, RST, SYN } from "./pcap-builder.js";

/** This host, as the frames address it. */
export const HOST = "192.0.2.1";
export const HOST6 = "2001:db8::1";
/** Capture time of frame 0. */
export const T0_US = 1_700_000_000_000_000;

/** A frame at `ms` milliseconds into the capture. */
export function frameAt(ms: number, p: PacketSpec | Uint8Array): CapturedFrame {
  const data = ethernetFrame(p);
  return { linkType: 1, data, wireLength: data.length, timestampUs: T0_US + ms * 1000, interfaceIndex: 0 };
}

let sport = 40_000;
/** A probe from `src` and, unless `answer` is "none", this host's answer 20 µs later. */
export function probeFrames(
  ms: number,
  src: string,
  port: number,
  o: {
    flags?: number;
    answer?: "rst" | "syn-ack" | "icmp-unreachable" | "none";
    proto?: "tcp" | "udp";
    dst?: string;
  } = {},
): CapturedFrame[] {
  const s = sport++;
  const dst = o.dst ?? (src.includes(":") ? HOST6 : HOST);
  const proto = o.proto ?? "tcp";
  const spec: PacketSpec = { src, dst, proto, sport: s, dport: port, flags: o.flags ?? SYN };
  const frames = [frameAt(ms, spec)];
  const answer = o.answer ?? (proto === "tcp" ? "rst" : "none");
  if (answer === "icmp-unreachable") {
    frames.push(frameAt(ms + 0.02, portUnreachablePacket(spec)));
  } else if (answer !== "none") {
    const flags = answer === "rst" ? RST | ACK : SYN | ACK;
    frames.push(frameAt(ms + 0.02, { src: dst, dst: src, proto, sport: port, dport: s, flags }));
  }
  return frames;
}
