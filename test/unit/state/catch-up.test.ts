/**
 * The catch-up of records that failed to be written (issue point 4): retried while the daemon
 * runs, oldest first; a full disk logged once per episode, and its end once.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { CatchUp } from "../../../src/state/catch-up.js";
import { MemoryLog } from "../../helpers/memory-log.js";
import { waitFor } from "../../netns/netns.js";

const FAST = { firstMs: 5, maxMs: 20, maxRecords: 100 } as const;
const full = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** A write that fails with a full disk until `space` is set; records what it wrote. */
function disk() {
  const state = { space: false, written: [] as string[] };
  const writer = (what: string) => () => {
    if (!state.space) throw full();
    state.written.push(what);
  };
  return { state, writer };
}

test("records are retried in order once space is back; one line per episode, with the count", async () => {
  const log = new MemoryLog();
  const c = new CatchUp(log, FAST);
  const { state, writer } = disk();
  for (const r of ["a", "b", "c"]) c.failed(`record ${r}`, writer(r), full());
  assert.deepEqual(c.stats(), {
    diskFull: 1,
    diskFullWrites: 3,
    recordsBehind: 3,
    recordsCaughtUp: 0,
    recordsDropped: 0,
  });
  // A few failing passes: still one line.
  await waitFor(() => c.stats().diskFullWrites >= 6, { what: "retries while the disk is full" });
  assert.equal(log.lines.length, 1);
  assert.match(log.messages()[0] ?? "", /disk full .* writing record a/);
  state.space = true;
  await waitFor(() => c.stats().recordsBehind === 0, { what: "the catch-up" });
  assert.deepEqual(state.written, ["a", "b", "c"]);
  assert.deepEqual(log.messages().slice(1), ["adminalert: space is back: 3 records caught up"]);
  assert.equal(c.stats().recordsCaughtUp, 3);

  // A second episode is logged again.
  state.space = false;
  c.failed("record d", writer("d"), full());
  assert.equal(c.stats().diskFull, 2);
  state.space = true;
  await waitFor(() => c.stats().recordsBehind === 0, { what: "the second catch-up" });
  assert.equal(log.lines.length, 4);
  c.stop();
});

test("a later failure under the same key replaces the earlier one (the last wish wins)", async () => {
  const c = new CatchUp(new MemoryLog(), FAST);
  const done: string[] = [];
  c.failed("hosts.deny of x", () => void done.push("ban"), full());
  c.failed("hosts.deny of x", () => void done.push("unban"), full());
  assert.equal(c.stats().recordsBehind, 1);
  await c.drain();
  assert.deepEqual(done, ["unban"]);
  c.stop();
});

test("a successful write elsewhere retries at once, without waiting for the back-off", async () => {
  const c = new CatchUp(new MemoryLog(), { firstMs: 600_000, maxMs: 600_000, maxRecords: 100 });
  const { state, writer } = disk();
  c.failed("record a", writer("a"), full());
  state.space = true;
  c.wrote();
  await waitFor(() => c.stats().recordsBehind === 0, { what: "the prompt retry" });
  assert.deepEqual(state.written, ["a"]);
  c.stop();
});

test("another error is logged each time it is reported and does not hold back the others", async () => {
  const log = new MemoryLog();
  const c = new CatchUp(log, FAST);
  const done: string[] = [];
  c.failed(
    "record bad",
    () => {
      throw new Error("EACCES: permission denied");
    },
    new Error("EACCES: permission denied"),
  );
  c.failed("record good", () => void done.push("good"), new Error("EIO: i/o error"));
  await c.drain();
  assert.deepEqual(done, ["good"]);
  assert.equal(c.stats().recordsBehind, 1);
  assert.equal(c.stats().diskFull, 0);
  assert.deepEqual(log.messages(), [
    "adminalert: ERROR: could not write record bad: EACCES: permission denied; retrying",
    "adminalert: ERROR: could not write record good: EIO: i/o error; retrying",
  ]);
  c.stop();
});

test("past the cap the oldest retry is dropped and counted", async () => {
  const c = new CatchUp(new MemoryLog(), { firstMs: 600_000, maxMs: 600_000, maxRecords: 3 });
  const done: string[] = [];
  for (const r of ["a", "b", "c", "d"]) c.failed(`record ${r}`, () => void done.push(r), full());
  c.failed("record d", () => void done.push("d"), full()); // the same key again: nothing dropped
  assert.equal(c.stats().recordsDropped, 1);
  assert.equal(c.stats().recordsBehind, 3);
  await c.drain();
  assert.deepEqual(done, ["b", "c", "d"]);
  c.stop();
});
