/**
 * Which ports a stealth or advanced mode watches (spec §3), as a bitmap: one byte per port, so
 * the per-packet check is one array read. Pure: no I/O.
 */

import type { Config } from "./config/types.js";
import type { Mode, PortBitmap } from "./vocabulary.js";

/** An inclusive run of ports. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export function emptyPorts(): PortBitmap {
  return new Uint8Array(65536);
}

export function portBitmap(ports: Iterable<number>): PortBitmap {
  const out = emptyPorts();
  for (const p of ports) if (Number.isInteger(p) && p >= 0 && p <= 65535) out[p] = 1;
  return out;
}

/** Ports of `a` that are not in `b`. */
export function withoutPorts(a: PortBitmap, b: PortBitmap): PortBitmap {
  const out = emptyPorts();
  for (let p = 0; p < 65536; p++) out[p] = a[p]! & (b[p]! ^ 1);
  return out;
}

export function portList(bitmap: PortBitmap): number[] {
  const out: number[] = [];
  for (let p = 0; p < 65536; p++) if (bitmap[p] === 1) out.push(p);
  return out;
}

/** The set as ascending runs: [1,2,3,7] → 1-3, 7-7. */
export function portRanges(bitmap: PortBitmap): PortRange[] {
  const out: PortRange[] = [];
  let start = -1;
  for (let p = 0; p <= 65536; p++) {
    const inSet = p < 65536 && bitmap[p] === 1;
    if (inSet && start < 0) start = p;
    else if (!inSet && start >= 0) {
      out.push({ from: start, to: p - 1 });
      start = -1;
    }
  }
  return out;
}

export type StealthMode = "stcp" | "sudp" | "atcp" | "audp";

export function isCaptureMode(mode: Mode): mode is StealthMode {
  return mode === "stcp" || mode === "sudp" || mode === "atcp" || mode === "audp";
}

/**
 * The ports a mode watches before local listeners are taken out: stealth modes the listed
 * ports, advanced modes every port below `ADVANCED_PORTS_*` (port 0 included, as in 1.2's
 * `port < advancedPort` test) except `ADVANCED_EXCLUDE_*`.
 */
export function candidatePorts(mode: StealthMode, config: Config): PortBitmap {
  switch (mode) {
    case "stcp":
      return portBitmap(config.tcpPorts);
    case "sudp":
      return portBitmap(config.udpPorts);
    case "atcp":
      return advanced(config.advancedPortsTcp, config.advancedExcludeTcp);
    case "audp":
      return advanced(config.advancedPortsUdp, config.advancedExcludeUdp);
  }
}

function advanced(below: number, exclude: readonly number[]): PortBitmap {
  const out = emptyPorts();
  const limit = Math.min(Math.max(below, 0), 65536);
  out.fill(1, 0, limit);
  for (const p of exclude) if (p >= 0 && p <= 65535) out[p] = 0;
  return out;
}
