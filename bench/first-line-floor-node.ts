/**
 * The floor of netns-bench's detect-types for any node process that reads the capture as the
 * daemon does (src/sensors/capture.ts, immediate mode): writes a fixed attackalert line to
 * stdout first thing in the frame handler, for every TCP or UDP packet. No decoding, no
 * policy. Used by first-probe-ab.sh as the "floor-node" variant (the C one is
 * first-line-floor.c); not part of the daemon.
 *
 *   node dist/bench/first-line-floor-node.js IFACE
 */

import { writeSync } from "node:fs";
import { DEFAULT_CAPTURE_OPTIONS, openLiveCapture } from "../src/sensors/capture.js";

const iface = process.argv[2];
if (iface === undefined) {
  process.stderr.write("usage: first-line-floor-node IFACE\n");
  process.exit(2);
}
const line = Buffer.from("attackalert: floor scan from host: -\n");
const opened = openLiveCapture(
  iface,
  {
    ...DEFAULT_CAPTURE_OPTIONS,
    filter: "tcp or udp",
    onFailure: (error) => {
      process.stderr.write(`${error}\n`);
      process.exit(1);
    },
  },
  () => writeSync(1, line),
);
if (!opened.ok) {
  process.stderr.write(`${opened.error}\n`);
  process.exit(1);
}
writeSync(1, "adminalert: PortSentry is now active and listening.\n");
