/**
 * The status report in the Prometheus text exposition format (version 0.0.4), for a textfile
 * collector or a scrape wrapper: `portsentry metrics > /var/lib/node_exporter/portsentry.prom`.
 * Pure.
 */

import type { StatusReport } from "./responses.js";

/** HELP texts of the counters the daemon reports; docs/control.md lists the same names. */
export const COUNTER_HELP: Readonly<Record<string, string>> = {
  hits: "Probes to a watched port (connections, datagrams, captured packets).",
  ignored: "Probes from ignored or protected sources.",
  detections: "Sources that reached SCAN_TRIGGER and were reacted to.",
  blocks: "Hosts blocked (by detection, the kernel trap or the block command).",
  unblocks: "Hosts unblocked by the unblock command.",
  expiries: "Blocks lifted because BLOCK_TIMEOUT ran out or unblock was asked.",
  evictions: "Sources dropped from the full trigger table.",
  trackedSources:
    "Sources in the trigger table now (a gauge despite the _total name, kept for compatibility).",
  heldBack: "Blocks held back by the block-rate limit (MAX_BLOCKS_PER_MINUTE).",
  decodeDrops: "Captured packets dropped as malformed.",
  kernelDrops: "Packets the kernel dropped before the capture read them (buffer full).",
  errors: "Responder and command failures.",
  logSuppressed: "Log lines held back by the log rate limit.",
  diskFull: "Episodes of a full disk (or quota) while writing records.",
  diskFullWrites: "Record writes that failed because the disk was full.",
  recordsBehind: "Records (history, blocked file, hosts.deny, state) not yet written; retried.",
  recordsCaughtUp: "Records written by a retry after a failed write.",
  recordsDropped: "Retries dropped, oldest first, past the cap of records held.",
  syslogDropped: "Log lines the syslog socket refused or could not take.",
  frames: "Frames read from the capture.",
  decoded: "Captured frames decoded as IPv4 or IPv6 TCP/UDP.",
  candidates: "Captured packets that looked like probes of a watched port.",
  replies: "This host's answers to candidate probes seen by the capture (SYN+ACK, RST, ICMP).",
  captureHits: "Captured probes reported as hits.",
  listenerReads: "Reads of the list of locally listening ports.",
  captureRestarts: "Times the capture was reopened (interface change or error).",
  ownFlowsEvicted: "Flows this host started, forgotten before their idle time because the table was full.",
  samePortRepeats: "Hits that repeat their source's previous port (a noisy neighbour rather than a scan).",
  kernelTrapHits: "Probes the kernel trap dropped and reported (their source blocked by the kernel).",
  kernelTrapOverLimit:
    "Probes past the kernel trap's block limit or its full probation sets (the kernel's counter, read at each scrape).",
  kernelTrapOverLimitReports: "Of those, the ones reported to the daemon (a bounded rate) and judged by it.",
  kernelTrapProbations:
    "Sources the kernel trap put on probation (PROBATION_TIMEOUT), reported or not (the kernel's counter).",
  kernelTrapRepeats:
    "Probes from sources on probation, dropped by the kernel trap, reported or not (the kernel's counter).",
  kernelTrapProbationRepeats:
    "Probes from sources on probation that the kernel trap reported (repeat offences).",
  kernelTrapProbes:
    "Probes the kernel counted for a log-only mode (BLOCK_*=0), reported or not (the kernel's counter, read at each scrape).",
  kernelTrapSeenReports: "Of those, the ones reported to the daemon (a bounded rate) and logged by it.",
  probations: "Sources put on probation (PROBATION_TIMEOUT): a short firewall-only ban of a first probe.",
  onProbation: "Sources on probation now, as the daemon knows them (a gauge despite the _total name).",
  probationForgotten:
    "Sources forgotten by the daemon's bounded probation table before their memory ran out.",
  kernelTrapGaps: "Times the kernel trap's log reader lost reports and reconciled with nftables.",
  kernelTrapUndecoded: "Kernel trap reports that could not be decoded.",
  nflogDrops: "Kernel trap reports the kernel dropped before the reader read them.",
  nflogRestarts: "Times the kernel trap's log reader was reopened.",
};

/** HELP for a counter: the table's, or for a capture drop counter (`dropNotProbe`) its reason. */
export function counterHelp(counter: string): string {
  const known = COUNTER_HELP[counter];
  if (known !== undefined) return known;
  const reason = dropReason(counter);
  if (reason !== undefined) return `Captured frames not counted as probes, reason: ${reason}.`;
  return `Counter ${counter} of the daemon's status report (docs/control.md).`;
}

/** `dropNotProbe` → `not-probe`; undefined for a name that is not a capture drop counter. */
export function dropReason(counter: string): string | undefined {
  const m = /^drop([A-Z][A-Za-z0-9]*)$/.exec(counter);
  return m?.[1]?.replace(/[A-Z]/g, (c, i: number) => `${i === 0 ? "" : "-"}${c.toLowerCase()}`);
}

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
    const help = counterHelp(counter);
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
