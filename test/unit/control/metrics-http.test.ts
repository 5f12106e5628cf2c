import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type MetricsSources,
  metricsRegistry,
  startMetricsServer,
} from "../../../src/control/metrics-http.js";
import { STATUS } from "./fixtures.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

function sources(counters: Record<string, number> = {}): MetricsSources {
  return {
    status: () => ({ ...STATUS, counters: { ...STATUS.counters, ...counters } }),
    probeKinds: () =>
      new Map([
        ["tcp", new Map([["Connect", 4]])],
        [
          "atcp",
          new Map([
            ["TCP SYN/Normal scan", 50],
            ["TCP FIN scan", 3],
          ]),
        ],
      ]),
    blocksByOrigin: () => ({ detection: 2, "kernel-trap": 5, command: 1 }),
    blockActions: () => new Map([["nftables", { detection: 2, "kernel-trap": 5, command: 1 }]]),
    topSources: () => [{ key: "192.0.2.7", probes: 40, error: 0 }],
    topPorts: () => [{ key: 6 * 65_536 + 143, probes: 12, error: 0 }],
  };
}

/** name → HELP text, from an exposition. */
function helps(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# HELP (\S+) (.*)$/gm)) out.set(m[1] ?? "", m[2] ?? "");
  return out;
}

test("exposition: every family has a real HELP text; labelled families carry the daemon's tables", async () => {
  const text = await metricsRegistry(sources({ dropNotProbe: 9, kernelTrapHits: 5 })).metrics();
  const help = helps(text);
  for (const [name, h] of help) {
    assert.ok(h.length > 15, `${name}: "${h}"`);
    assert.doesNotMatch(
      h,
      /^The daemon's \w+ counter\.$|status report \(docs/,
      `${name} has a placeholder HELP`,
    );
  }
  assert.match(
    text,
    /^portsentry_probes_by_kind_total\{mode="atcp",classification="TCP SYN\/Normal scan"\} 50$/m,
  );
  assert.match(text, /^portsentry_blocks_by_origin_total\{origin="kernel-trap"\} 5$/m);
  assert.match(text, /^portsentry_block_actions_total\{responder="nftables",origin="command"\} 1$/m);
  assert.match(text, /^portsentry_capture_drops_total\{reason="not-probe"\} 9$/m);
  assert.match(text, /^portsentry_top_source_probes\{address="192\.0\.2\.7"\} 40$/m);
  assert.match(text, /^portsentry_top_port_probes\{protocol="tcp",port="143"\} 12$/m);
  assert.match(text, /^portsentry_info\{version="9\.9\.9"\} 1$/m);
  // `portsentry metrics`' names are kept for the flat counters, a new one appears when reported.
  assert.match(text, /^portsentry_hits_total 57$/m);
  assert.match(text, /^portsentry_kernel_trap_hits_total 5$/m);
  assert.match(text, /^portsentry_drop_not_probe_total 9$/m);
  assert.ok(help.has("process_resident_memory_bytes") && help.has("nodejs_eventloop_lag_p99_seconds"));
  // Read at scrape time: a second scrape sees the new values.
  const later = sources({ hits: 58 });
  assert.match(await metricsRegistry(later).metrics(), /^portsentry_hits_total 58$/m);
});

test("exposition passes promtool's lint", {
  skip: spawnSync("promtool", ["--version"]).error ? "no promtool" : false,
}, async () => {
  const text = await metricsRegistry(sources({ dropNotProbe: 9 })).metrics();
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  // promtool flags counters without _total and HELP-less families; prom-client's own
  // nodejs_* process figures are not ours to rename.
  const ours = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /^portsentry_/.test(l));
  assert.deepEqual(ours, []);
});

test("HTTP: GET /metrics answers in the text format, anything else is 404", async () => {
  const started = await startMetricsServer(
    { host: "127.0.0.1", port: 0, loopback: true },
    metricsRegistry(sources()),
  );
  assert.ok(started.ok, started.ok ? "" : started.message);
  if (!started.ok) return;
  const get = (path: string, method = "GET") =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const url = new URL(started.server.url);
      const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString("utf8");
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
        );
      });
      req.on("error", reject);
      req.end();
    });
  try {
    const ok = await get("/metrics");
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
    assert.match(ok.body, /^portsentry_blocked_hosts 2$/m);
    assert.equal((await get("/")).status, 404);
    assert.equal((await get("/metrics", "POST")).status, 404);
  } finally {
    await started.server.close();
  }
  // A port in use is a result, not a throw.
  const a = await startMetricsServer(
    { host: "127.0.0.1", port: 0, loopback: true },
    metricsRegistry(sources()),
  );
  assert.ok(a.ok);
  if (!a.ok) return;
  try {
    const port = Number(new URL(a.server.url).port);
    const b = await startMetricsServer(
      { host: "127.0.0.1", port, loopback: true },
      metricsRegistry(sources()),
    );
    assert.equal(b.ok, false);
    assert.match(b.ok ? "" : b.message, /METRICS_LISTEN 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    await a.server.close();
  }
});

test("the Grafana dashboard queries only metrics that the exposition has", async () => {
  const dashboard = JSON.parse(await readFile(`${ROOT}packaging/grafana/portsentry.json`, "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { definition?: string }[] };
  };
  // Without any optional counter reported: what a dashboard shows must exist from the start.
  const exposed = helps(await metricsRegistry(sources()).metrics());
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (v.definition === undefined ? [] : [v.definition])),
  ];
  assert.ok(exprs.length >= 10);
  const names = new Set(
    exprs.flatMap((e) => [...e.matchAll(/\b(?:portsentry|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])),
  );
  assert.ok(names.size >= 10, [...names].join(" "));
  for (const name of names) assert.ok(exposed.has(name), `${name} (dashboard) is not in the exposition`);
  const titles = dashboard.panels.map((p) => p.title);
  for (const t of [
    "Probes per second by classification",
    "Blocks by origin",
    "Top sources",
    "Ports most probed",
    "Drops",
  ]) {
    assert.ok(titles.includes(t), t);
  }
});
