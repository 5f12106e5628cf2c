/**
 * The status report in the Prometheus text exposition format (version 0.0.4), for a textfile
 * collector or a scrape wrapper: `portsentry metrics > /var/lib/node_exporter/portsentry.prom`.
 * Pure.
 */

import type { StatusReport } from "./protocol.js";

/** HELP texts of the counters the daemon reports; docs/control.md lists the same names. */
export const COUNTER_HELP: Readonly<Record<string, string>> = {
  hits: "Probes to a watched port (connections, datagrams, captured packets).",
  ignored: "Probes from ignored or protected sources.",
  detections: "Sources that reached SCAN_TRIGGER and were reacted to.",
  blocks: "Hosts blocked (by detection or the block command).",
  unblocks: "Hosts unblocked by the unblock command.",
  expiries: "Blocks lifted because BLOCK_TIMEOUT ran out.",
  evictions: "Sources dropped from the full trigger table.",
  heldBack: "Blocks held back by the block-rate limit.",
  decodeDrops: "Captured packets dropped as malformed.",
  kernelDrops: "Packets the kernel dropped before capture.",
  errors: "Responder and command failures.",
  logSuppressed: "Log lines held back by the log rate limit.",
  diskFull: "Episodes of a full disk (or quota) while writing records.",
  diskFullWrites: "Record writes that failed because the disk was full.",
  recordsBehind: "Records (history, blocked file, hosts.deny, state) not yet written; retried.",
  recordsCaughtUp: "Records written by a retry after a failed write.",
  recordsDropped: "Retries dropped, oldest first, past the cap of records held.",
};

/** Counter names become `portsentry_<snake_case>_total`. */
export function metricName(counter: string): string {
  return `portsentry_${counter.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`;
}

export function formatMetrics(status: StatusReport): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: readonly string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  family("portsentry_info", "gauge", "Version of the running daemon.", [
    `portsentry_info{version="${label(status.version)}"} 1`,
  ]);
  const startedSec = Date.parse(status.startedAt) / 1000;
  if (Number.isFinite(startedSec)) {
    family("portsentry_start_time_seconds", "gauge", "Start time of the daemon, seconds since the epoch.", [
      `portsentry_start_time_seconds ${num(startedSec)}`,
    ]);
  }
  family("portsentry_uptime_seconds", "gauge", "Seconds since the daemon started.", [
    `portsentry_uptime_seconds ${num(status.uptimeSec)}`,
  ]);
  family(
    "portsentry_sensor_armed",
    "gauge",
    "1 when every port of the mode's sensor is bound or its capture is open.",
    status.sensors.map((s) => `portsentry_sensor_armed{mode="${label(s.mode)}"} ${s.armed ? 1 : 0}`),
  );
  family(
    "portsentry_sensor_ports",
    "gauge",
    "Ports watched by the mode's sensor.",
    status.sensors.map((s) => `portsentry_sensor_ports{mode="${label(s.mode)}"} ${num(s.portCount)}`),
  );
  family("portsentry_blocked_hosts", "gauge", "Hosts blocked right now.", [
    `portsentry_blocked_hosts ${num(status.blockedHosts)}`,
  ]);
  for (const counter of Object.keys(status.counters).sort()) {
    // Names were checked on receipt; this guards a handler that reports an odd one.
    if (!/^[a-z][A-Za-z0-9]*$/.test(counter)) continue;
    const name = metricName(counter);
    const help = COUNTER_HELP[counter] ?? `The daemon's ${counter} counter.`;
    family(name, "counter", help, [`${name} ${num(status.counters[counter] ?? 0)}`]);
  }
  return `${out.join("\n")}\n`;
}

/** Label values escape backslash, double quote and newline (exposition format). */
function label(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return String(value);
}
