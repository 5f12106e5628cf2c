/**
 * The floor of netns-bench's detect-types for any node process that reads the capture through
 * our addon: opens it as the daemon does (immediate mode) and writes a fixed attackalert line
 * to stdout, first thing in the batch callback, for every batch of TCP or UDP packets. No
 * decoding, no policy. Used by first-probe-ab.sh as the "floor-node" variant (the C one is
 * first-line-floor.c); not part of the daemon.
 *
 *   node dist/bench/first-line-floor-node.js IFACE
 */

import { writeSync } from "node:fs";
import { loadNativeAddon } from "../src/sensors/native-addon.js";

interface CaptureAddon {
  open(
    device: string,
    filter: string,
    snapLength: number,
    bufferBytes: number,
    timeoutMs: number,
  ): { handle: unknown };
  start(
    handle: unknown,
    buffer: Uint8Array,
    slotBytes: number,
    onBatch: (count: number) => void,
    onError: (message: string) => void,
    holdUnderLoadMs: number,
  ): void;
}

const iface = process.argv[2];
if (iface === undefined) {
  process.stderr.write("usage: first-line-floor-node IFACE\n");
  process.exit(2);
}
const addon = loadNativeAddon<CaptureAddon>("live_capture", ["open", "start"]);
const snapLength = 256;
const slotBytes = (16 + snapLength + 7) & ~7; // the addon's slot header, then the frame
const { handle } = addon.open(iface, "tcp or udp", snapLength, 16 << 20, 0);
const line = Buffer.from("attackalert: floor scan from host: -\n");
addon.start(
  handle,
  new Uint8Array(slotBytes * 512),
  slotBytes,
  (count) => {
    if (count > 0) writeSync(1, line); // start() calls once with 0
  },
  (message) => {
    process.stderr.write(`${message}\n`);
    process.exit(1);
  },
  0,
);
writeSync(1, "adminalert: PortSentry is now active and listening.\n");
