/**
 * The capture sensor's 1.2 log lines (spec §5): at start, which ports are watched, in use or
 * excluded; later, which ports a listener took or gave back.
 */

import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { StealthMode } from "../port-set.js";
import type { WatchedPorts } from "./capture-generations.js";
import type { ListenerTable } from "./listening.js";

export interface CaptureModes {
  readonly tcp: StealthMode | undefined;
  readonly udp: StealthMode | undefined;
}

/** The start-up lines of each mode, as 1.2 printed them. */
export function logStartupLines(
  log: Log,
  config: Config,
  modes: CaptureModes,
  candidates: WatchedPorts,
  listeners: ListenerTable,
): void {
  for (const proto of ["tcp", "udp"] as const) {
    const mode = modes[proto];
    if (mode === undefined) continue;
    const p = proto === "tcp" ? "TCP" : "UDP";
    if (mode === "stcp" || mode === "sudp") {
      for (const port of proto === "tcp" ? config.tcpPorts : config.udpPorts) {
        log.notice(listeners.has(proto, port) ? msg.stealthPortInUse(p, port) : msg.stealthListen(p, port));
      }
      continue;
    }
    const below = proto === "tcp" ? config.advancedPortsTcp : config.advancedPortsUdp;
    const exclude = proto === "tcp" ? config.advancedExcludeTcp : config.advancedExcludeUdp;
    log.notice(msg.advancedMonitor(below));
    for (const port of exclude) log.notice(msg.advancedExclude(port));
    const watched = candidates[proto];
    for (let port = 0; port < below && port < 65536; port++) {
      if (watched?.[port] === 1 && listeners.has(proto, port)) log.notice(msg.advancedIgnoredPort(p, port));
    }
  }
}

/** A line per port whose watch changed: a listener took it (or, in stealth modes, gave it back). */
export function logWatchChanges(
  log: Log,
  modes: CaptureModes,
  before: WatchedPorts,
  after: WatchedPorts,
): void {
  for (const proto of ["tcp", "udp"] as const) {
    const mode = modes[proto];
    const b = before[proto];
    const a = after[proto];
    if (mode === undefined || a === undefined || b === undefined) continue;
    const p = proto === "tcp" ? "TCP" : "UDP";
    const stealth = mode === "stcp" || mode === "sudp";
    for (let port = 0; port < 65536; port++) {
      if (b[port] === a[port]) continue;
      if (b[port] === 1) {
        log.notice(stealth ? msg.stealthPortInUse(p, port) : msg.advancedIgnoredPort(p, port));
      } else if (stealth) {
        log.notice(msg.stealthListen(p, port));
      }
    }
  }
}
