import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileSink } from "../../../src/log/file-sink.js";
import { Logger } from "../../../src/log/logger.js";

const dir = mkdtempSync(join(tmpdir(), "psfilesink-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Far above any descriptor this process opens (a closed one could be reused meanwhile). */
const NOT_OPEN_FD = 1_000_000;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function openAppend(name: string): { path: string; fd: number } {
  const path = join(dir, name);
  return { path, fd: openSync(path, "a") };
}

test("the first line of a turn is in the file before write() returns; the rest when the turn ends", async () => {
  const { path, fd } = openAppend("turn.log");
  const sink = new FileSink(fd, 1 << 20);
  sink.write("attackalert: one\n");
  assert.equal(readFileSync(path, "utf8"), "attackalert: one\n");
  sink.write("attackalert: two\n");
  sink.write("attackalert: three\n");
  assert.equal(readFileSync(path, "utf8"), "attackalert: one\n", "held until the turn ends");
  await nextTurn();
  assert.equal(readFileSync(path, "utf8"), "attackalert: one\nattackalert: two\nattackalert: three\n");
  sink.write("attackalert: four\n");
  assert.match(readFileSync(path, "utf8"), /four\n$/, "a new turn writes at once again");
  await sink.end(0);
  closeSync(fd);
  assert.equal(sink.dropped, 0);
});

test("end() writes what waits, without waiting for the turn", async () => {
  const { path, fd } = openAppend("end.log");
  const sink = new FileSink(fd, 1 << 20);
  sink.write("a\n");
  sink.write("b\n");
  await sink.end(0);
  assert.equal(readFileSync(path, "utf8"), "a\nb\n");
  closeSync(fd);
});

test("lines over the bound in one turn are dropped and counted, not kept", async () => {
  const { path, fd } = openAppend("bound.log");
  const sink = new FileSink(fd, 100);
  for (let i = 0; i < 50; i++) sink.write(`line ${String(i).padStart(4, "0")}\n`);
  await nextTurn();
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  // The first went at once; 100 bytes of 10-byte lines waited; the other 39 were dropped.
  assert.equal(lines.length, 11);
  assert.equal(sink.dropped, 39);
  closeSync(fd);
});

test("a descriptor that fails is switched off: lines counted as dropped, nothing thrown", async () => {
  const sink = new FileSink(NOT_OPEN_FD, 1 << 20);
  sink.write("x\n");
  sink.write("y\n");
  await nextTurn();
  sink.write("z\n");
  assert.equal(sink.dropped, 3);
});

test("forRegularFile: a file yes; a character device (/dev/null) and a descriptor not open no", () => {
  const { fd } = openAppend("regular.log");
  assert.ok(FileSink.forRegularFile(fd, 1024) instanceof FileSink);
  closeSync(fd);
  const devNull = openSync("/dev/null", "a");
  assert.equal(FileSink.forRegularFile(devNull, 1024), undefined);
  closeSync(devNull);
  assert.equal(FileSink.forRegularFile(NOT_OPEN_FD, 1024), undefined);
});

test("the logger mirrors lines into a file sink and counts its drops", async () => {
  const { path, fd } = openAppend("logger.log");
  const log = new Logger({ stderr: new FileSink(fd, 1 << 20) });
  log.notice("adminalert: PortSentry is now active and listening.");
  assert.equal(readFileSync(path, "utf8"), "adminalert: PortSentry is now active and listening.\n");
  await log.close();
  assert.equal(log.stats().stderrDropped, 0);
  closeSync(fd);
});
