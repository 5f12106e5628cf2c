import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseArgs } from "../../../src/cli/args.js";
import {
  type ControlCliCommand,
  formatDuration,
  localTime,
  runControlCommand,
} from "../../../src/cli/control-commands.js";
import { formatMetrics } from "../../../src/control/metrics.js";
import { socketPathFor } from "../../../src/control/protocol.js";
import { type ControlServer, startControlServer } from "../../../src/control/server.js";
import { type FakeHandler, fakeHandler, PROTECTED, STATUS, tempDir } from "./fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  readonly conf: string;
  readonly handler: FakeHandler;
  readonly server: ControlServer;
}

/** A config whose STATE_DIR holds a control server with a fake handler. */
async function setup(): Promise<Setup> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const conf = join(dir, "portsentry.conf");
  await writeFile(conf, `STATE_DIR="${dir}"\n`);
  const handler = fakeHandler();
  const started = await startControlServer(socketPathFor(dir), handler);
  assert.ok(started.ok, started.ok ? "" : started.message);
  cleanups.push(() => started.server.close());
  return { conf, handler, server: started.server };
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const parsed = parseArgs(argv);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  let stdout = "";
  let stderr = "";
  const code = await runControlCommand(parsed.command as ControlCliCommand, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    timeoutMs: 5000,
  });
  return { code, stdout, stderr };
}

test("status: a summary for people", async () => {
  const { conf } = await setup();
  const r = await run(["-c", conf, "status"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.equal(
    lines[0],
    `portsentry 9.9.9 (pid 4242), up 2h 03m 04s since ${localTime(Date.parse(STATUS.startedAt))}`,
  );
  assert.equal(lines[1], "config   /etc/portsentry/portsentry.conf");
  assert.equal(lines[2], "modes    tcp udp");
  assert.equal(lines[3], "blocked  2 hosts");
  assert.ok(lines.includes("MODE  ARMED  PORTS  WATCHED"), r.stdout);
  assert.ok(lines.includes("tcp   yes        7  1,11,143,32771-32774"), r.stdout);
  assert.ok(lines.includes("udp   NO         2  1,7"), r.stdout);
  assert.ok(lines.includes("  hits           57"), r.stdout);
  assert.ok(lines.includes("  logSuppressed  12"), r.stdout);
});

test("--json prints the response object, one line", async () => {
  const { conf } = await setup();
  for (const cmd of ["status", "blocked", "metrics"]) {
    const r = await run(["-c", conf, cmd, "--json"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.split("\n").length, 2, "one line");
    const obj = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(obj.v, 1);
    assert.equal(obj.ok, true);
    assert.equal(typeof obj.id, "number");
    if (cmd === "status") assert.deepEqual(obj.result, STATUS);
    if (cmd === "blocked") assert.equal((obj.result as unknown[]).length, 2);
  }
  const u = await run(["-c", conf, "unblock", "192.0.2.7", "--json"]);
  assert.deepEqual((JSON.parse(u.stdout) as { result: unknown }).result, [
    { address: "192.0.2.7", ok: true, changed: true, message: "unblocked" },
  ]);
});

test("blocked: an aligned table with local times and never", async () => {
  const { conf, handler } = await setup();
  const r = await run(["-c", conf, "blocked"]);
  assert.equal(r.code, 0);
  const a = handler.blocks.get("192.0.2.7")!;
  const b = handler.blocks.get("2001:db8::9")!;
  assert.equal(
    r.stdout,
    [
      "ADDRESS      MODE  PORT  SINCE                EXPIRES",
      `192.0.2.7    tcp    143  ${localTime(a.sinceMs)}  never`,
      `2001:db8::9  atcp    22  ${localTime(b.sinceMs)}  ${localTime(b.expiresAtMs)}`,
      "",
    ].join("\n"),
  );
  assert.match(localTime(b.sinceMs), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  handler.blocks.clear();
  assert.equal((await run(["-c", conf, "blocked"])).stdout, "no hosts are blocked\n");
});

test("unblock and block: one line per address; a failure is exit 1", async () => {
  const { conf, handler } = await setup();
  const u = await run(["-c", conf, "unblock", "192.0.2.7", "198.51.100.3"]);
  assert.equal(u.code, 0);
  assert.equal(u.stdout, "192.0.2.7: unblocked\n198.51.100.3: not blocked\n");
  const b = await run(["-c", conf, "block", "203.0.113.5"]);
  assert.equal(b.code, 0);
  assert.equal(b.stdout, "203.0.113.5: blocked\n");
  assert.ok(handler.blocks.has("203.0.113.5"));
  const refused = await run(["-c", conf, "block", PROTECTED]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, "");
  assert.equal(refused.stderr, `portsentry: ${PROTECTED}: one of this host's addresses (protected)\n`);
});

test("metrics prints the exposition text", async () => {
  const { conf } = await setup();
  const r = await run(["-c", conf, "metrics"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, formatMetrics(STATUS));
});

test("a bad address is a usage error and nothing is sent", async () => {
  const { conf, handler } = await setup();
  const r = await run(["-c", conf, "unblock", "192.0.2.7", "192.0.2.300"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'portsentry: unblock: "192.0.2.300" is not an IP address\n');
  const esc = await run(["-c", conf, "block", "\u001b[2Jx"]);
  assert.equal(esc.code, 2);
  assert.ok(!esc.stderr.includes("\u001b"));
  assert.deepEqual(handler.calls, []);
});

test("config errors: printed with file and line, exit 2", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const conf = join(dir, "bad.conf");
  await writeFile(conf, 'STATE_DIR="/x"\nSCAN_TRIGER="1"\n');
  const r = await run(["-c", conf, "status"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^portsentry: .*bad\.conf:2: SCAN_TRIGER: unknown key/);
  const missing = await run(["-c", join(dir, "none.conf"), "status"]);
  assert.equal(missing.code, 2);
});

test("not running: exit 1 with the reason; --json still prints one object", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const conf = join(dir, "portsentry.conf");
  await writeFile(conf, `STATE_DIR="${dir}"\n`);
  const r = await run(["-c", conf, "status"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `portsentry: portsentry is not running (no socket at ${dir}/portsentry.sock)\n`);
  const j = await run(["-c", conf, "blocked", "--json"]);
  assert.equal(j.code, 1);
  assert.deepEqual(JSON.parse(j.stdout), {
    v: 1,
    id: null,
    ok: false,
    error: {
      code: "not-running",
      message: `portsentry is not running (no socket at ${dir}/portsentry.sock)`,
    },
  });
});

test("durations for people", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(59.9), "59s");
  assert.equal(formatDuration(7384), "2h 03m 04s");
  assert.equal(formatDuration(93784), "1d 02h 03m 04s");
});
