/**
 * Our syslog writer against a real rsyslogd (root only). rsyslogd runs in the foreground with
 * a private config: its only input is a socket in a temp dir (SysSock.Use="off": /dev/log and
 * the journal are never touched), no imklog is loaded, internal messages stay inside it
 * (processInternalMessages), and every output file, the pid file and the work dir are in the
 * temp dir, which is removed at the end, also on failure.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Logger } from "../../../src/log/logger.js";
import * as m from "../../../src/log/messages.js";
import { SyslogWriter } from "../../../src/log/syslog.js";

const RSYSLOGD = "/usr/sbin/rsyslogd";
const skip =
  process.getuid?.() !== 0
    ? "needs root (rsyslogd with a private socket)"
    : !existsSync(RSYSLOGD)
      ? `needs ${RSYSLOGD} (apt-get install rsyslog)`
      : false;

function rsyslogConf(dir: string): string {
  return `global(workDirectory="${dir}" processInternalMessages="on")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${dir}/log.sock" CreatePath="on" RateLimit.Interval="0")
template(name="pslog" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")
daemon.* action(type="omfile" file="${dir}/daemon.log" template="pslog")
local3.* action(type="omfile" file="${dir}/local3.log" template="pslog")
syslog.* action(type="omfile" file="${dir}/rsyslogd-internal.log")
`;
}

async function poll<T>(what: string, probe: () => T | undefined, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function readOr(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

describe("syslog writer with a real rsyslogd", { skip }, () => {
  let dir = "";
  let sock = "";
  let rsyslogd: ChildProcess | undefined;
  let output = "";

  async function startRsyslogd(): Promise<void> {
    rmSync(sock, { force: true });
    const child = spawn(RSYSLOGD, ["-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslogd.pid")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    rsyslogd = child;
    child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
    await poll("rsyslogd's socket", () => {
      if (child.exitCode !== null) assert.fail(`rsyslogd exited with ${child.exitCode}: ${output}`);
      return existsSync(sock) ? true : undefined;
    });
  }

  async function stopRsyslogd(): Promise<void> {
    const child = rsyslogd;
    rsyslogd = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  function waitForLine(file: string, line: string): Promise<string> {
    const path = join(dir, file);
    return poll(`"${line}" in ${file}`, () => {
      const text = readOr(path);
      return text.split("\n").includes(line) ? text : undefined;
    }).catch((err: unknown) => {
      assert.fail(`${String(err)}\n--- ${file}:\n${readOr(path)}\n--- rsyslogd:\n${output}`);
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pslog-rsyslog-"));
    sock = join(dir, "log.sock");
    writeFileSync(join(dir, "rsyslog.conf"), rsyslogConf(dir));
    await startRsyslogd();
  });

  after(async () => {
    try {
      await stopRsyslogd();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lines arrive as portsentry[pid]: with the level of each method", async () => {
    const syslog = new SyslogWriter({ path: sock });
    const log = new Logger({ syslog });
    try {
      log.notice(m.starting("0.1.0"));
      log.notice(m.scanFrom("TCP SYN/Normal scan", "192.0.2.7", "192.0.2.7", "TCP", 143));
      log.warn(m.stealthPortInUse("TCP", 22));
      log.error(m.bindError("TCP", 143));
    } finally {
      await log.close();
    }
    const tag = `portsentry[${process.pid}]:`;
    await waitForLine("daemon.log", `daemon.notice ${tag} adminalert: PortSentry 0.1.0 is starting.`);
    await waitForLine(
      "daemon.log",
      `daemon.notice ${tag} attackalert: TCP SYN/Normal scan from host: 192.0.2.7/192.0.2.7 to TCP port: 143`,
    );
    await waitForLine("daemon.log", `daemon.warning ${tag} ${m.stealthPortInUse("TCP", 22)}`);
    await waitForLine("daemon.log", `daemon.err ${tag} ${m.bindError("TCP", 143)}`);
    assert.deepEqual(syslog.stats(), { sent: 4, dropped: 0 });
  });

  test("SYSLOG_FACILITY/SYSLOG_LEVEL by name: local3.info goes to the local3 rule only", async () => {
    const syslog = new SyslogWriter({ path: sock, facility: "local3", level: "info" });
    try {
      syslog.send(m.active());
    } finally {
      syslog.close();
    }
    await waitForLine("local3.log", `local3.info portsentry[${process.pid}]: ${m.active()}`);
    assert.ok(!readOr(join(dir, "daemon.log")).includes(`local3`), "a local3 line leaked into daemon.*");
  });

  test("a forged newline in a resolved name stays inside one escaped line", async () => {
    const syslog = new SyslogWriter({ path: sock });
    try {
      syslog.send(
        m.connectFrom("evil\nattackalert: Host 192.0.2.1 has been blocked", "192.0.2.66", "TCP", 1),
      );
    } finally {
      syslog.close();
    }
    const text = await waitForLine(
      "daemon.log",
      `daemon.notice portsentry[${process.pid}]: attackalert: Connect from host: evil\\x0aattackalert: Host 192.0.2.1 has been blocked/192.0.2.66 to TCP port: 1`,
    );
    assert.ok(!text.split("\n").some((l) => l.startsWith("attackalert: Host 192.0.2.1")));
  });

  test("a restarted rsyslogd is picked up after the retry delay; the outage is said once", async () => {
    let nowMs = 0;
    const warnings: string[] = [];
    const syslog = new SyslogWriter({
      path: sock,
      retryMs: 5000,
      monoClockMs: () => nowMs,
      warn: (l) => warnings.push(l),
    });
    try {
      syslog.send("adminalert: before the restart");
      await waitForLine(
        "daemon.log",
        `daemon.notice portsentry[${process.pid}]: adminalert: before the restart`,
      );
      await stopRsyslogd();
      rmSync(sock, { force: true }); // rsyslogd leaves its socket behind; a real restart re-creates it
      syslog.send("adminalert: lost while down");
      syslog.send("adminalert: lost while down");
      await startRsyslogd();
      syslog.send("adminalert: not tried before the delay");
      nowMs = 5000;
      syslog.send("adminalert: after the restart");
    } finally {
      syslog.close();
    }
    const text = await waitForLine(
      "daemon.log",
      `daemon.notice portsentry[${process.pid}]: adminalert: after the restart`,
    );
    assert.ok(!text.includes("not tried before the delay"));
    assert.deepEqual(syslog.stats(), { sent: 2, dropped: 3 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /unavailable \((ENOENT|ECONNREFUSED)\); logging to stderr only$/);
  });
});
