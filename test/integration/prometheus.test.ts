/**
 * METRICS_LISTEN end to end with a real Prometheus (Debian's `prometheus` package): the daemon
 * and Prometheus run on the loopback of the lab's target namespace, Prometheus scrapes every
 * second with its own config and data directory; a probe sent by the test must appear in a
 * counter read back through Prometheus's HTTP query API.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type DaemonFiles, startDaemon, TCP_CLIENT_JS, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, type Lab, rootSkip } from "../netns/netns.js";

const TRAP_PORT = 31337;
const METRICS = "127.0.0.1:9871";
const PROMETHEUS = "127.0.0.1:9090";

const skip =
  rootSkip() || (spawnSync("prometheus", ["--version"]).error ? "needs prometheus (setup.sh)" : false);

test("Prometheus scrapes /metrics: up is 1 and a probe shows in a counter", { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "ps-prometheus-"));
  let lab: Lab | undefined;
  let files: DaemonFiles | undefined;
  try {
    lab = await createLab({ name: "prom", hosts: 1 });
    const l = lab;
    const scanner = lab.scanner(1);
    files = await writeDaemonFiles({
      TCP_PORTS: String(TRAP_PORT),
      BLOCK_TCP: "0",
      BLOCK_UDP: "0",
      METRICS_LISTEN: METRICS,
    });
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp"]);
    assert.ok(daemon.stderr.includes(`Serving Prometheus metrics on http://${METRICS}/metrics`));

    const config = join(dir, "prometheus.yml");
    await writeFile(
      config,
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        "scrape_configs:",
        "  - job_name: portsentry",
        `    static_configs: [{ targets: ["${METRICS}"] }]`,
        "",
      ].join("\n"),
    );
    const prometheus = lab.spawn(lab.target, [
      "prometheus",
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${PROMETHEUS}`,
      "--log.level=warn",
    ]);
    // Inside the namespace (its loopback is not ours): node's fetch, the body on stdout.
    const get = async (path: string): Promise<string> => {
      const js = `fetch(${JSON.stringify(`http://${PROMETHEUS}${path}`)}).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1; }, () => { process.exitCode = 2; })`;
      const r = await l.exec(l.target, ["node", "-e", js], { timeoutMs: 10_000 });
      return r.ok ? r.stdout : "";
    };
    /** One instant vector's value, or undefined while Prometheus has none. */
    const query = async (promql: string): Promise<number | undefined> => {
      const text = await get(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      if (text === "") return undefined;
      const body = JSON.parse(text) as { data?: { result?: { value?: [number, string] }[] } };
      const v = body.data?.result?.[0]?.value?.[1];
      return v === undefined ? undefined : Number(v);
    };
    await lab.waitFor(async () => (await get("/-/ready")) !== "", {
      timeoutMs: 30_000,
      what: `Prometheus ready; its log: ${prometheus.stderr.slice(-500)}`,
    });
    await lab.waitFor(async () => (await query('up{job="portsentry"}')) === 1, {
      timeoutMs: 30_000,
      what: "up == 1",
    });
    assert.equal(
      await query('portsentry_probes_by_kind_total{mode="tcp",classification="Connect"}'),
      undefined,
    );

    await lab.exec(scanner, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, String(TRAP_PORT), "3000"], {
      timeoutMs: 10_000,
    });
    await lab.waitFor(
      async () => (await query('portsentry_probes_by_kind_total{mode="tcp",classification="Connect"}')) === 1,
      { timeoutMs: 30_000, what: "the probe counted in Prometheus" },
    );
    assert.equal(await query("portsentry_hits_total"), 1);
    assert.equal(await query(`portsentry_top_source_probes{address="${scanner.v4}"}`), 1);
    assert.equal(await query('portsentry_top_port_probes{protocol="tcp",port="31337"}'), 1);
    assert.ok(((await query("process_resident_memory_bytes")) ?? 0) > 1_000_000);
  } finally {
    await lab?.destroy(); // stops the daemon and Prometheus, also on failure
    await files?.remove();
    await rm(dir, { recursive: true, force: true });
  }
});
