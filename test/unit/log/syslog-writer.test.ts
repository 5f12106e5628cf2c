import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { SyslogWriter } from "../../../src/log/syslog.js";

// A receiving Unix datagram socket, standing in for a syslog daemon (no root needed).
interface Receiver {
  on(event: "message", fn: (buf: Buffer) => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  bind(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)("unix-dgram") as {
  createSocket(type: "unix_dgram"): Receiver;
};

const dir = mkdtempSync(join(tmpdir(), "pslog-"));
const open: Receiver[] = [];
after(() => {
  for (const r of open) r.close();
  rmSync(dir, { recursive: true, force: true });
});

function listen(path: string): { received: string[] } {
  const received: string[] = [];
  const r = unixDgram.createSocket("unix_dgram");
  r.on("message", (buf) => received.push(buf.toString()));
  r.on("error", (err) => assert.fail(err));
  r.bind(path);
  open.push(r);
  return { received };
}

async function until(cond: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail("condition not met before the deadline");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test("a missing socket never throws, is said once on stderr, and lines are counted as dropped", () => {
  const warnings: string[] = [];
  const w = new SyslogWriter({ path: join(dir, "nonexistent.sock"), warn: (l) => warnings.push(l) });
  try {
    for (let i = 0; i < 5; i++) w.send(`line ${i}`);
  } finally {
    w.close();
  }
  assert.deepEqual(warnings, [
    `portsentry: syslog socket ${join(dir, "nonexistent.sock")} unavailable (ENOENT); logging to stderr only`,
  ]);
  assert.deepEqual(w.stats(), { sent: 0, dropped: 5 });
});

test("a syslog daemon started later is picked up after the retry delay", async () => {
  const path = join(dir, "late.sock");
  let nowMs = 0;
  const warnings: string[] = [];
  const w = new SyslogWriter({
    path,
    retryMs: 5000,
    monoClockMs: () => nowMs,
    warn: (l) => warnings.push(l),
    pid: 77,
  });
  try {
    w.send("before");
    const { received } = listen(path);
    nowMs = 4999;
    w.send("still waiting"); // inside the retry delay: not even tried
    assert.deepEqual(w.stats(), { sent: 0, dropped: 2 });
    nowMs = 5000;
    w.send("adminalert: back");
    assert.deepEqual(w.stats(), { sent: 1, dropped: 2 });
    await until(() => received.length === 1);
    assert.match(
      received[0] ?? "",
      /^<29>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d portsentry\[77\]: adminalert: back$/,
    );
    assert.equal(warnings.length, 1);
  } finally {
    w.close();
  }
});

test("facility and level by name reach the priority field", async () => {
  const path = join(dir, "prio.sock");
  const { received } = listen(path);
  const w = new SyslogWriter({ path, facility: "local3", level: "info", pid: 5 });
  try {
    w.send("a");
    w.send("b", "err");
    await until(() => received.length === 2);
    assert.match(received[0] ?? "", /^<158>/);
    assert.match(received[1] ?? "", /^<155>/);
  } finally {
    w.close();
  }
});

test("a full socket drops lines without blocking, and says so once", async () => {
  const path = join(dir, "full.sock");
  const { received } = listen(path);
  const warnings: string[] = [];
  const w = new SyslogWriter({ path, warn: (l) => warnings.push(l) });
  try {
    // The receiver cannot read while this loop runs: its queue (net.unix.max_dgram_qlen) fills.
    const started = performance.now();
    for (let i = 0; i < 5000 && w.stats().dropped === 0; i++) w.send(`flood ${i}`);
    const elapsedMs = performance.now() - started;
    const { sent, dropped } = w.stats();
    assert.ok(dropped > 0, "queue never filled");
    assert.ok(elapsedMs < 2000, `sending took ${elapsedMs} ms`);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /is full \(EAGAIN\); dropping lines$/);
    // Congestion is not an outage: the next line is tried again at once.
    await until(() => received.length === sent);
    w.send("after the flood");
    await until(() => received.length === sent + 1);
  } finally {
    w.close();
  }
});

test("after close, sends are dropped quietly", () => {
  const warnings: string[] = [];
  const w = new SyslogWriter({ path: join(dir, "none.sock"), warn: (l) => warnings.push(l) });
  w.close();
  w.close();
  w.send("x");
  assert.deepEqual(w.stats(), { sent: 0, dropped: 1 });
  assert.deepEqual(warnings, []);
});
