import assert from "node:assert/strict";
import { test } from "node:test";
import { openServiceNotifier, watchdogIntervalMs } from "../../../src/control/sd-notify.js";
import { MinuteWindow, statusLine } from "../../../src/control/service-status.js";

test("watchdog: half of WATCHDOG_USEC, only for our pid, off when unset or malformed", () => {
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 42), 15_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "1000000", WATCHDOG_PID: "42" }, 42), 500);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "1000000", WATCHDOG_PID: "7" }, 42), undefined);
  assert.equal(watchdogIntervalMs({}, 42), undefined);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "soon" }, 42), undefined);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "0" }, 42), undefined);
});

test("without NOTIFY_SOCKET nothing happens; the variables never reach children", () => {
  const env: NodeJS.ProcessEnv = { WATCHDOG_USEC: "1000000", PATH: "/bin" };
  const warnings: string[] = [];
  const n = openServiceNotifier((l) => warnings.push(l), env);
  assert.equal(n.active, false);
  n.ready("x");
  n.stopping();
  n.close();
  assert.deepEqual(env, { PATH: "/bin" });
  assert.deepEqual(warnings, []);
});

test("an abstract NOTIFY_SOCKET is reported once and ignored", () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: "@/org/freedesktop/systemd1/notify" };
  const warnings: string[] = [];
  const n = openServiceNotifier((l) => warnings.push(l), env);
  assert.equal(n.active, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? "", /abstract sockets are not supported/);
  assert.equal(env.NOTIFY_SOCKET, undefined);
});

test("STATUS= summary: modes, blocked hosts, probes over the last minute of samples", () => {
  const w = new MinuteWindow();
  assert.equal(w.add(0, 5), 0);
  assert.equal(w.add(10_000, 25), 20);
  assert.equal(w.add(60_000, 40), 35);
  assert.equal(w.add(70_000, 41), 16, "the sample from t=0 fell out; t=10 s is the base");
  assert.equal(w.add(200_000, 41), 0);
  assert.equal(
    statusLine({ modes: ["atcp", "audp"], blockedHosts: 1, hits: 0 }, 12),
    "armed: atcp audp; 1 host blocked; 12 probes in the last minute",
  );
});
