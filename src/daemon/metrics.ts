/**
 * Start-up step 12b, METRICS_LISTEN: /metrics for Prometheus over HTTP, read at scrape time from
 * counters the daemon keeps anyway (absent: off, and prom-client is never loaded).
 */

import type { Config } from "../config/types.js";
import type { StatusReport } from "../control/responses.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { ResourceStack } from "../resources.js";
import { StartError } from "../start-error.js";
import type { BlockKeeper } from "./blocking.js";

export async function startMetrics(
  config: Config,
  status: () => StatusReport,
  refreshCounters: () => Promise<void>,
  keeper: BlockKeeper,
  log: Log,
  resources: ResourceStack,
): Promise<void> {
  if (config.metricsListen === undefined) return;
  // Loaded only when asked for: prom-client costs memory and start-up time otherwise.
  const { metricsRegistry, startMetricsServer } = await import("../control/metrics-http.js");
  const { pipeline } = keeper.stages;
  const exposition = metricsRegistry({
    status,
    refreshCounters,
    probeKinds: () => pipeline.probeKinds,
    blocksByOrigin: () => keeper.reactor.blocksByOrigin,
    blockActions: () => keeper.reactor.actions,
    topSources: (n) => pipeline.topSources.top(n),
    topPorts: (n) => pipeline.topPorts.top(n),
  });
  const served = await startMetricsServer(config.metricsListen, exposition);
  if (!served.ok) throw new StartError(served.message, 1);
  resources.add("the metrics endpoint", () => served.server.close());
  log.notice(msg.metricsListening(served.server.url));
}
