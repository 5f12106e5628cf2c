import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Config } from "../../src/config/types.js";
import { TriggerTable } from "../../src/detect/trigger.js";
import { Pipeline } from "../../src/pipeline.js";
import { Policy } from "../../src/policy/policy.js";
import { HostsDenyResponder } from "../../src/respond/hosts-deny.js";
import { Reactor } from "../../src/respond/reactor.js";
import type { BlockTarget, Responder } from "../../src/respond/responder.js";
import { BlockRegistry } from "../../src/state/blocks.js";
import { HistoryFile } from "../../src/state/history.js";
import type { Hit } from "../../src/vocabulary.js";
import { testConfig } from "../helpers/config.js";
import { MemoryLog } from "../helpers/memory-log.js";
import { testPolicyOptions } from "../helpers/policy.js";

const root = await mkdtemp(join(tmpdir(), "ps-pipeline-"));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

class FakeFirewall implements Responder {
  readonly name = "nftables";
  readonly banned: BlockTarget[] = [];
  constructor(readonly orderFile: string) {}
  async start() {
    return { ok: true } as const;
  }
  async ban(t: BlockTarget) {
    this.banned.push(t);
    await import("node:fs/promises").then((fs) => fs.appendFile(this.orderFile, "firewall\n"));
    return { ok: true } as const;
  }
  async unban() {
    return { ok: true } as const;
  }
  async flush() {
    return { ok: true } as const;
  }
  async stop() {}
}

async function setup(
  overrides: (dir: string) => Partial<Config>,
  nameOf?: (address: string) => string | Promise<string>,
) {
  const dir = join(root, String(n++));
  await import("node:fs/promises").then((fs) => fs.mkdir(dir));
  const config = testConfig(dir, overrides(dir));
  const log = new MemoryLog();
  const registry = new BlockRegistry(config.blockedFile, 1000);
  const firewall = new FakeFirewall(join(dir, "order"));
  const reactor = new Reactor({
    config,
    log,
    registry,
    history: new HistoryFile(config.historyFile),
    hostsDeny: config.killHostsDeny
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
      : undefined,
    firewall,
    wallClockMs: () => Date.now(),
  });
  const pipeline = new Pipeline({
    log,
    trigger: new TriggerTable({ scanTrigger: config.scanTrigger, maxSources: 100, windowMs: 60_000 }),
    policy: new Policy(
      testPolicyOptions({
        blockTcp: config.blockTcp,
        blockUdp: config.blockUdp,
        isBlocked: (a) => registry.has(a),
      }),
    ),
    registry,
    reactor,
    recordOffence: () => {},
    maxBlocksPerMinute: 60,
    wallClockMs: () => Date.now(),
    nameOf,
  });
  return { dir, config, log, registry, firewall, pipeline, reactor };
}

const hit = (address: string, port = 143, mode: Hit["mode"] = "tcp"): Hit => ({
  mode,
  address,
  family: address.includes(":") ? 6 : 4,
  port,
  classification: mode === "tcp" ? "Connect" : "UDP scan",
  ipOptions: false,
  nowMs: 0,
});

test("full chain in 1.2 order with KILL_RUN_CMD_FIRST=0, history and blocked file written", async () => {
  const s = await setup((dir) => ({
    killHostsDeny: "ALL: $TARGET$",
    killRoute: `/bin/sh -c "echo route $TARGET$ >> ${dir}/order"`,
    killRunCmd: `/bin/sh -c "echo cmd $TARGET$ $PORT$ $MODE$ >> ${dir}/order"`,
  }));
  assert.equal(s.pipeline.onHit(hit("198.51.100.7")).kind, "respond");
  assert.equal(s.pipeline.onHit(hit("198.51.100.7", 11)).kind, "already-blocked");
  await s.pipeline.settle();
  const order = (await readFile(join(s.dir, "order"), "utf8")).trim().split("\n");
  assert.equal(order.at(-1), "cmd 198.51.100.7 143 tcp", "the command runs after blocking");
  assert.ok(order.includes("firewall") && order.includes("route 198.51.100.7"));
  assert.equal(await readFile(s.config.wrapperHostsDeny, "utf8"), "ALL: 198.51.100.7\n");
  const msgs = s.log.messages();
  assert.ok(msgs.includes("attackalert: Connect from host: 198.51.100.7/198.51.100.7 to TCP port: 143"));
  const blockedLines = msgs.filter((m) => /has been blocked via|External command/.test(m));
  assert.deepEqual(
    blockedLines.map((m) => m.replace(/".*"/, "…")),
    [
      "attackalert: Host 198.51.100.7 has been blocked via wrappers with string: …",
      "attackalert: Host 198.51.100.7 has been blocked via nftables",
      "attackalert: Host 198.51.100.7 has been blocked via dropped route using command: …",
      "attackalert: External command run for host: 198.51.100.7 using command: …",
    ],
  );
  assert.ok(
    msgs.some((m) => m.startsWith("attackalert: Host: 198.51.100.7/198.51.100.7 is already blocked")),
  );
  const history = await readFile(s.config.historyFile, "utf8");
  assert.match(
    history,
    /^\d+ - \d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d Host: 198\.51\.100\.7\/198\.51\.100\.7 Port: 143 TCP Blocked\n$/,
  );
  assert.equal(await readFile(`${s.config.blockedFile}.tcp`, "utf8"), history);
});

test("KILL_RUN_CMD_FIRST=1 runs the command before blocking", async () => {
  const s = await setup((dir) => ({
    killRunCmdFirst: true,
    killRunCmd: `/bin/sh -c "echo cmd >> ${dir}/order"`,
  }));
  s.pipeline.onHit(hit("198.51.100.8"));
  await s.pipeline.settle();
  assert.deepEqual((await readFile(join(s.dir, "order"), "utf8")).trim().split("\n"), ["cmd", "firewall"]);
});

test("BLOCK_UDP=2 runs only the command; BLOCK_TCP=0 only logs", async () => {
  const s = await setup((dir) => ({
    blockTcp: 0,
    blockUdp: 2,
    killRunCmd: `/bin/sh -c "echo cmd >> ${dir}/order"`,
  }));
  assert.equal(s.pipeline.onHit(hit("198.51.100.9", 7, "udp")).kind, "respond");
  assert.equal(s.pipeline.onHit(hit("198.51.100.10")).kind, "log-only");
  await s.pipeline.settle();
  assert.deepEqual((await readFile(join(s.dir, "order"), "utf8")).trim().split("\n"), ["cmd"]);
  assert.equal(s.firewall.banned.length, 0);
  assert.ok(s.log.messages().includes("attackalert: Ignoring TCP response per configuration file setting."));
});

test("SCAN_TRIGGER=3 reacts on the third hit; protected sources are never counted", async () => {
  const s = await setup(() => ({ scanTrigger: 3 }));
  assert.deepEqual(
    [1, 2, 3].map(() => s.pipeline.onHit(hit("198.51.100.11")).kind),
    ["counted", "counted", "respond"],
  );
  assert.equal(s.pipeline.onHit(hit("192.0.2.1")).kind, "ignored");
  await s.pipeline.settle();
  assert.equal(s.firewall.banned.length, 1);
  assert.equal(s.pipeline.counters.ignored, 1);
});

test("a failing command is logged as an error with its exit status", async () => {
  const s = await setup(() => ({ killRoute: "/bin/false $TARGET$" }));
  s.pipeline.onHit(hit("2001:db8::5"));
  await s.pipeline.settle();
  const err = s.log.lines.find((l) => l.level === "err");
  assert.match(err?.msg ?? "", /2001:db8::5.*exit status 1/);
});

test("forged probes from the gateway are logged and never blocked", async () => {
  const s = await setup(() => ({}));
  assert.equal(s.pipeline.onHit(hit("192.0.2.254")).kind, "protected");
  await s.pipeline.settle();
  assert.equal(s.firewall.banned.length, 0);
  const msgs = s.log.messages();
  assert.ok(msgs.includes("attackalert: Connect from host: 192.0.2.254/192.0.2.254 to TCP port: 143"));
  assert.ok(msgs.some((m) => m.includes("192.0.2.254") && m.includes("default gateway")));
});

test("RESOLVE_HOST: lines and history carry the resolved name; the block does not wait for it", async () => {
  let answer: (name: string) => void = () => {};
  const s = await setup(
    () => ({}),
    () =>
      new Promise<string>((resolve) => {
        answer = resolve;
      }),
  );
  assert.equal(s.pipeline.onHit(hit("198.51.100.20")).kind, "respond");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.firewall.banned.length, 1, "blocked before the name is known");
  assert.equal(s.log.messages().filter((m) => m.includes("Connect from")).length, 0);
  answer("scanner.example");
  await s.pipeline.settle();
  assert.ok(
    s.log
      .messages()
      .includes("attackalert: Connect from host: scanner.example/198.51.100.20 to TCP port: 143"),
  );
  assert.match(
    await readFile(s.config.historyFile, "utf8"),
    /Host: scanner\.example\/198\.51\.100\.20 Port: 143 TCP Blocked/,
  );
});

test("1.2 lines: basic -udp says `Connect from host:`, stealth and advanced UDP say `UDP scan from host:`", async () => {
  const s = await setup(() => ({ blockUdp: 0 }));
  s.pipeline.onHit(hit("198.51.100.11", 7, "udp"));
  s.pipeline.onHit(hit("198.51.100.12", 7, "sudp"));
  s.pipeline.onHit(hit("198.51.100.13", 7, "audp"));
  await s.pipeline.settle();
  const msgs = s.log.messages();
  assert.ok(
    msgs.includes("attackalert: Connect from host: 198.51.100.11/198.51.100.11 to UDP port: 7"),
    msgs.join("\n"),
  );
  assert.ok(msgs.includes("attackalert: UDP scan from host: 198.51.100.12/198.51.100.12 to UDP port: 7"));
  assert.ok(msgs.includes("attackalert: UDP scan from host: 198.51.100.13/198.51.100.13 to UDP port: 7"));
  assert.equal(msgs.filter((m) => m.includes("UDP scan from host: 198.51.100.11/")).length, 0);
});

test("metrics tables: probes by mode and classification, top sources and ports, blocks by origin and responder", async () => {
  const s = await setup((dir) => ({
    killHostsDeny: "ALL: $TARGET$",
    killRunCmd: `/bin/sh -c "echo >> ${dir}/order"`,
  }));
  s.pipeline.onHit(hit("198.51.100.21", 143));
  s.pipeline.onHit({
    ...hit("198.51.100.22", 111, "stcp"),
    classification: "TCP SYN/Normal scan",
    kernelBlocked: true,
  });
  s.pipeline.onHit(hit("198.51.100.21", 143)); // already blocked: counted as a probe, not a block
  s.pipeline.onHit(hit("192.0.2.1", 143)); // ignored: a probe, but never a top source
  await s.pipeline.settle();
  assert.deepEqual(
    [...s.pipeline.probeKinds].map(([mode, kinds]) => [mode, [...kinds]]),
    [
      ["tcp", [["Connect", 3]]],
      ["stcp", [["TCP SYN/Normal scan", 1]]],
    ],
  );
  assert.deepEqual(
    s.pipeline.topSources.top(10).map((e) => [e.key, e.probes]),
    [
      ["198.51.100.21", 2],
      ["198.51.100.22", 1],
    ],
  );
  assert.deepEqual(
    s.pipeline.topPorts.top(10).map((e) => [e.key >> 16, e.key & 0xffff, e.probes]),
    [
      [6, 143, 2],
      [6, 111, 1],
    ],
  );
  assert.deepEqual(s.reactor.blocksByOrigin, { detection: 1, "kernel-trap": 1, command: 0 });
  assert.deepEqual(Object.fromEntries(s.reactor.actions), {
    nftables: { detection: 1, "kernel-trap": 1, command: 0 },
    "hosts.deny": { detection: 1, "kernel-trap": 1, command: 0 },
    command: { detection: 1, "kernel-trap": 1, command: 0 },
  });
});
