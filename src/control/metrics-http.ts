/**
 * METRICS_LISTEN: /metrics over HTTP for Prometheus, in its text format, through prom-client.
 * Every family is read at scrape time by a collect callback from counters the daemon keeps
 * anyway (the status report, the pipeline's and reactor's tables), so the packet path does no
 * metrics work; a scrape costs one status report and a sort of two 32-slot tables. The flat
 * counters keep the names of `portsentry metrics`; the labelled families exist only here.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { ListenAddress } from "../config/types.js";
import type { TopEntry } from "../state/top-sources.js";
import { COUNTER_HELP, counterHelp, dropReason, metricName } from "./metrics.js";
import type { StatusReport } from "./responses.js";

/** What the registry reads at scrape time; all of it is owned by the daemon. */
export interface MetricsSources {
  status(): StatusReport;
  /** Brings counters kept elsewhere (the kernel's) up to date before a scrape; optional. */
  refreshCounters?(): Promise<void>;
  /** Probes by mode, then classification. */
  probeKinds(): ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** New blocks by origin (detection, kernel-trap, command). */
  blocksByOrigin(): Readonly<Record<string, number>>;
  /** Successful responder steps: responder → origin → count. */
  blockActions(): ReadonlyMap<string, Readonly<Record<string, number>>>;
  topSources(n: number): readonly TopEntry<string>[];
  /** Keys are `protocol << 16 | port` (6 TCP, 17 UDP). */
  topPorts(n: number): readonly TopEntry<number>[];
}

/** How many sources and ports the top families show: a dashboard's top 10. */
export const TOP_SHOWN = 10;

/**
 * The registry behind /metrics. `prefix` of process figures: prom-client's standard
 * `process_*` and `nodejs_*` names, so that stock Node.js dashboards work too. The families are
 * registered in the order of the exposition.
 */
export function metricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One status report per scrape: the collect callbacks below all read this snapshot.
  let snapshot: StatusReport | undefined;
  const status: StatusRead = () => {
    snapshot ??= sources.status();
    return snapshot;
  };
  const registers = [registry];
  registerDaemonGauges(registers, status);
  registerStateGauges(registers, status);
  const addFlat = flatCounterFamilies(registers, status);
  registerLabelledCounters(registers, sources, status);
  registerTopGauges(registers, sources);

  // Before each scrape: a fresh snapshot, and families for counters that appeared since.
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    await sources.refreshCounters?.();
    snapshot = undefined;
    for (const counter of Object.keys(status().counters)) addFlat(counter);
    return metrics();
  };
  return registry;
}

/** The scrape's status report (read once per scrape). */
type StatusRead = () => StatusReport;

/** Which daemon runs, since when. */
function registerDaemonGauges(registers: Registry[], status: StatusRead): void {
  new Gauge({
    name: "portsentry_info",
    help: "Version of the running daemon (always 1).",
    labelNames: ["version"],
    registers,
    collect() {
      this.reset();
      this.set({ version: status().version }, 1);
    },
  });
  new Gauge({
    name: "portsentry_start_time_seconds",
    help: "Start time of the daemon, seconds since the epoch.",
    registers,
    collect() {
      this.set(Date.parse(status().startedAt) / 1000);
    },
  });
  new Gauge({
    name: "portsentry_uptime_seconds",
    help: "Seconds since the daemon started.",
    registers,
    collect() {
      this.set(status().uptimeSec);
    },
  });
}

/** What the daemon watches and holds now: its sensors, their ports, the blocked hosts. */
function registerStateGauges(registers: Registry[], status: StatusRead): void {
  new Gauge({
    name: "portsentry_sensor_armed",
    help: "1 when every port of the mode's sensor is bound or its capture is open.",
    labelNames: ["mode"],
    registers,
    collect() {
      this.reset();
      for (const s of status().sensors) this.set({ mode: s.mode }, s.armed ? 1 : 0);
    },
  });
  new Gauge({
    name: "portsentry_sensor_ports",
    help: "Ports watched by the mode's sensor.",
    labelNames: ["mode"],
    registers,
    collect() {
      this.reset();
      for (const s of status().sensors) this.set({ mode: s.mode }, s.portCount);
    },
  });
  new Gauge({
    name: "portsentry_blocked_hosts",
    help: "Hosts blocked right now.",
    registers,
    collect() {
      this.set(status().blockedHosts);
    },
  });
}

/**
 * The status report's flat counters under `portsentry metrics`' names. The known ones are
 * always there (0 until counted) so that dashboards and alerts find them; others (capture
 * drop reasons) as they appear: the function returned adds the family of a counter not seen yet.
 */
function flatCounterFamilies(registers: Registry[], status: StatusRead): (counter: string) => void {
  const flat = new Set<string>();
  const addFlat = (counter: string): void => {
    if (flat.has(counter) || !/^[a-z][A-Za-z0-9]*$/.test(counter)) return;
    flat.add(counter);
    new Counter({
      name: metricName(counter),
      help: counterHelp(counter),
      registers,
      collect() {
        this.reset();
        this.inc(status().counters[counter] ?? 0);
      },
    });
  };
  for (const counter of Object.keys(COUNTER_HELP)) addFlat(counter);
  return addFlat;
}

/** The labelled counter families, which exist only here (not in `portsentry metrics`). */
function registerLabelledCounters(registers: Registry[], sources: MetricsSources, status: StatusRead): void {
  new Counter({
    name: "portsentry_probes_by_kind_total",
    help: "Probes to a watched port by mode and scan classification (Connect, TCP SYN/Normal scan, UDP scan, ...).",
    labelNames: ["mode", "classification"],
    registers,
    collect() {
      this.reset();
      for (const [mode, kinds] of sources.probeKinds()) {
        for (const [classification, n] of kinds) this.inc({ mode, classification }, n);
      }
    },
  });
  new Counter({
    name: "portsentry_blocks_by_origin_total",
    help: "Hosts blocked, by what made the block: detection (userspace), kernel-trap or command (the block command).",
    labelNames: ["origin"],
    registers,
    collect() {
      this.reset();
      for (const [origin, n] of Object.entries(sources.blocksByOrigin())) this.inc({ origin }, n);
    },
  });
  new Counter({
    name: "portsentry_block_actions_total",
    help: "Responder steps that succeeded for new blocks (nftables, iptables, ipset, hosts.deny, route, command), by origin of the block.",
    labelNames: ["responder", "origin"],
    registers,
    collect() {
      this.reset();
      for (const [responder, byOrigin] of sources.blockActions()) {
        for (const [origin, n] of Object.entries(byOrigin)) this.inc({ responder, origin }, n);
      }
    },
  });
  new Counter({
    name: "portsentry_capture_drops_total",
    help: "Captured frames not counted as probes, by reason (not-probe, not-watched, outgoing, own-source, answered-by-listener, malformed ...).",
    labelNames: ["reason"],
    registers,
    collect() {
      this.reset();
      for (const [counter, n] of Object.entries(status().counters)) {
        const reason = dropReason(counter);
        if (reason !== undefined) this.inc({ reason }, n);
      }
    },
  });
}

/** The sources and ports probed most since start. */
function registerTopGauges(registers: Registry[], sources: MetricsSources): void {
  new Gauge({
    name: "portsentry_top_source_probes",
    help: `Probes from each of the ${TOP_SHOWN} sources with the most since start (ignored sources left out; an upper bound: space-saving count over 32 slots).`,
    labelNames: ["address"],
    registers,
    collect() {
      this.reset();
      for (const e of sources.topSources(TOP_SHOWN)) this.set({ address: e.key }, e.probes);
    },
  });
  new Gauge({
    name: "portsentry_top_port_probes",
    help: `Probes to each of the ${TOP_SHOWN} ports probed most since start (ignored sources left out; an upper bound: space-saving count over 32 slots).`,
    labelNames: ["protocol", "port"],
    registers,
    collect() {
      this.reset();
      for (const e of sources.topPorts(TOP_SHOWN)) {
        const protocol = e.key >> 16 === 6 ? "tcp" : "udp";
        this.set({ protocol, port: String(e.key & 0xffff) }, e.probes);
      }
    },
  });
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

export type StartMetricsResult =
  | { readonly ok: true; readonly server: MetricsServer }
  | { readonly ok: false; readonly message: string };

/** Serves GET /metrics on `listen`; anything else is 404. Loopback-or-explicit is config's job. */
export function startMetricsServer(listen: ListenAddress, registry: Registry): Promise<StartMetricsResult> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("portsentry: only GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
      },
    );
  });
  // Scrapers are few: a slow or idle client is cut off rather than held.
  server.maxConnections = 16;
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 30_000;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return new Promise((resolve) => {
    server.once("error", (err) =>
      resolve({ ok: false, message: `METRICS_LISTEN ${host}:${listen.port}: ${err.message}` }),
    );
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => {
      const bound = server.address();
      const port = typeof bound === "object" && bound !== null ? bound.port : listen.port;
      resolve({
        ok: true,
        server: {
          url: `http://${host}:${port}/metrics`,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              server.closeAllConnections();
            }),
        },
      });
    });
  });
}
