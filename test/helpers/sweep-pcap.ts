/**
 * A capture of a forged sweep: `count` SYNs to one trap port, each from a new source
 * (2001:db8::/32, documentation), written straight to a file in chunks so that a capture of
 * hundreds of thousands of frames costs the writer little memory.
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { ethernetFrame } from "./pcap-builder.js";

export const SWEEP_LOCAL = "2001:db8::1";
export const SWEEP_PORT = 143;

/** The source of frame `i`: 2001:db8:0:HHHH::LLLL, a new one per frame. */
export function sweepSource(i: number): string {
  return `2001:db8:0:${((i >>> 16) + 1).toString(16)}::${(i & 0xffff).toString(16)}`;
}

export function writeSweepPcap(path: string, count: number, startSec = 1_700_000_000): void {
  const fd = openSync(path, "w");
  try {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(262_144, 16);
    header.writeUInt32LE(1, 20); // Ethernet
    writeSync(fd, header);
    const chunk: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const frame = ethernetFrame({
        src: sweepSource(i),
        dst: SWEEP_LOCAL,
        proto: "tcp",
        sport: 40_000,
        dport: SWEEP_PORT,
      });
      const record = Buffer.alloc(16 + frame.length);
      // 10 µs apart: 200 000 frames span 2 s.
      const us = i * 10;
      record.writeUInt32LE(startSec + Math.floor(us / 1_000_000), 0);
      record.writeUInt32LE(us % 1_000_000, 4);
      record.writeUInt32LE(frame.length, 8);
      record.writeUInt32LE(frame.length, 12);
      record.set(frame, 16);
      chunk.push(record);
      if (chunk.length === 4096 || i === count - 1) {
        writeSync(fd, Buffer.concat(chunk));
        chunk.length = 0;
      }
    }
  } finally {
    closeSync(fd);
  }
}
