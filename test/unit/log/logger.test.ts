import assert from "node:assert/strict";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { after, test } from "node:test";
import type { SyslogLevel } from "../../../src/config/types.js";
import { type Log, Logger, openLogger } from "../../../src/log/logger.js";
import * as m from "../../../src/log/messages.js";
import { type SyslogSink, SyslogWriter } from "../../../src/log/syslog.js";
import { MemoryLog } from "../../helpers/memory-log.js";

const dir = mkdtempSync(join(tmpdir(), "pslog-"));
after(() => rmSync(dir, { recursive: true, force: true }));

class FakeSyslog implements SyslogSink {
  readonly sent: { msg: string; level: SyslogLevel | undefined }[] = [];
  closed = false;
  send(msg: string, level?: SyslogLevel): void {
    this.sent.push({ msg, level });
  }
  stats() {
    return { sent: this.sent.length, dropped: 0 };
  }
  close(): void {
    this.closed = true;
  }
}

function collect(stream: PassThrough): () => string {
  let text = "";
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return () => text;
}

test("one message reaches syslog, the stderr mirror and the JSON event sink", () => {
  const syslog = new FakeSyslog();
  const stderr = new PassThrough();
  const events = new PassThrough();
  const errText = collect(stderr);
  const evText = collect(events);
  const log = new Logger({ syslog, stderr, events, wallClockMs: () => Date.UTC(2026, 0, 2, 3, 4, 5, 6) });
  const msg = m.scanFrom("TCP SYN/Normal scan", "192.0.2.7", "192.0.2.7", "TCP", 143);
  log.notice(msg, { ip: "192.0.2.7", port: 143, proto: "TCP", msg: "must not override", ts: 0 });
  log.warn("adminalert: warned");
  log.error("adminalert: ERROR: broken");

  assert.deepEqual(syslog.sent, [
    { msg, level: undefined }, // the configured SYSLOG_LEVEL
    { msg: "adminalert: warned", level: "warning" },
    { msg: "adminalert: ERROR: broken", level: "err" },
  ]);
  assert.equal(errText(), `${msg}\nadminalert: warned\nadminalert: ERROR: broken\n`);
  const records = evText()
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(records[0], {
    ts: "2026-01-02T03:04:05.006Z",
    level: "notice",
    tag: "attackalert",
    msg,
    ip: "192.0.2.7",
    port: 143,
    proto: "TCP",
  });
  assert.deepEqual(
    records.map((r) => [r.level, r.tag]),
    [
      ["notice", "attackalert"],
      ["warning", "adminalert"],
      ["err", "adminalert"],
    ],
  );
});

test("attacker text is escaped on stderr and in JSON, and unserializable extras do not throw", () => {
  const stderr = new PassThrough();
  const events = new PassThrough();
  const errText = collect(stderr);
  const evText = collect(events);
  const log = new Logger({ stderr, events });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  log.notice(m.connectFrom("x\nattackalert: forged\u001b[31m", "192.0.2.9", "TCP", 1), { big: 1n, cyclic });
  assert.equal(
    errText(),
    "attackalert: Connect from host: x\\x0aattackalert: forged\\x1b[31m/192.0.2.9 to TCP port: 1\n",
  );
  const record = JSON.parse(evText()) as Record<string, unknown>;
  assert.equal(record.extraError, "unserializable");
  assert.equal(record.tag, "attackalert");
});

test("limited(): a flood from one key is held back and summarised when it speaks again", () => {
  let nowMs = 0;
  const syslog = new FakeSyslog();
  const log = new Logger({ syslog, monoClockMs: () => nowMs, rateLimit: { windowMs: 60_000, perKey: 2 } });
  for (let i = 0; i < 100; i++) log.limited("192.0.2.1", m.alreadyBlocked("192.0.2.1", "192.0.2.1"));
  assert.equal(syslog.sent.length, 2);
  nowMs = 60_000;
  log.limited("192.0.2.1", m.alreadyBlocked("192.0.2.1", "192.0.2.1"));
  assert.deepEqual(
    syslog.sent.slice(2).map((s) => s.msg),
    [m.suppressed(98, "192.0.2.1"), m.alreadyBlocked("192.0.2.1", "192.0.2.1")],
  );
  assert.equal(log.stats().rateLimit.suppressed, 98);
});

test("a stalled stream drops lines instead of growing memory", () => {
  // A writer that never completes a write: its buffer only grows.
  const stalled = new Writable({ write() {} });
  const log = new Logger({ stderr: stalled, maxBufferedBytes: 1000 });
  for (let i = 0; i < 1000; i++) log.notice(`adminalert: line ${i} ${"x".repeat(50)}`);
  assert.ok(stalled.writableLength < 1000 + 200, `buffered ${stalled.writableLength} bytes`);
  assert.ok(log.stats().stderrDropped > 900);
});

test("a stream that errors is switched off, never crashes the process", async () => {
  const failing = new Writable({
    write(_chunk, _enc, done) {
      done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    },
  });
  const log = new Logger({ stderr: failing });
  log.notice("adminalert: one");
  await new Promise((resolve) => setImmediate(resolve));
  log.notice("adminalert: two");
  assert.equal(log.stats().stderrDropped, 1);
  await log.close(500);
});

test("the logger never throws when /dev/log is missing, and says so once", async () => {
  const warnings: string[] = [];
  const path = join(dir, "no-such-dir", "log");
  const syslog = new SyslogWriter({ path, warn: (l) => warnings.push(l) });
  const events = join(dir, "events.jsonl");
  const log = new Logger({ syslog, events: createWriteStream(events) });
  for (let i = 0; i < 20; i++) log.notice(m.active());
  await log.close();
  assert.deepEqual(warnings, [
    `portsentry: syslog socket ${path} unavailable (ENOENT); logging to stderr only`,
  ]);
  assert.deepEqual(log.stats().syslog, { sent: 0, dropped: 20 });
  assert.equal(
    readFileSync(events, "utf8").trimEnd().split("\n").length,
    20,
    "the other sinks still get every line",
  );
});

test("openLogger: syslog off, events appended to a file, close() flushes", async () => {
  const file = join(dir, "open.jsonl");
  const log = openLogger({ syslogPath: false, eventsFile: file });
  log.notice(m.starting("0.1.0"), { version: "0.1.0" });
  await log.close();
  const record = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  assert.equal(record.msg, "adminalert: PortSentry 0.1.0 is starting.");
  assert.equal(record.version, "0.1.0");
});

test("openLogger: a symbolic link at the events file is not followed; the victim is untouched", async () => {
  const victim = join(dir, "victim");
  writeFileSync(victim, "keep\n");
  const link = join(dir, "events-link.jsonl");
  symlinkSync(victim, link);
  const log = openLogger({ syslogPath: false, eventsFile: link });
  log.notice(m.starting("0.1.0"));
  await log.close();
  assert.equal(readFileSync(victim, "utf8"), "keep\n");
});

test("MemoryLog records what a module logged, for other modules' tests", () => {
  const log: Log = new MemoryLog();
  log.notice(m.active());
  log.limited("k", m.blockExpired("192.0.2.1"));
  assert.deepEqual((log as MemoryLog).messages(), [m.active(), m.blockExpired("192.0.2.1")]);
});
