import assert from "node:assert/strict";
import { test } from "node:test";
import { ProbationTable } from "../../../src/policy/probation.js";
import type { Hit } from "../../../src/vocabulary.js";

const MIN = 60_000;

function hit(address: string, nowMs: number, mode: Hit["mode"] = "stcp", port = 143): Hit {
  return {
    mode,
    address,
    family: address.includes(":") ? 6 : 4,
    port,
    classification: "TCP SYN/Normal scan",
    ipOptions: false,
    nowMs,
  };
}

function table(capacity = 100, memoryMs = 60 * MIN): ProbationTable {
  return new ProbationTable({ capacity, memoryMs });
}

test("start: on probation until untilMs, not at or after it; the entry carries the probe", () => {
  const t = table();
  t.start(hit("198.51.100.1", 1000, "sudp", 7), 10 * MIN, 1_700_000_000_000, false);
  assert.equal(t.isOn("198.51.100.1", 1000), true);
  assert.equal(t.isOn("198.51.100.1", 1000 + 10 * MIN - 1), true);
  assert.equal(t.isOn("198.51.100.1", 1000 + 10 * MIN), false, "ends at untilMs");
  assert.equal(t.isOn("198.51.100.1", 1000 + 20 * MIN), false);
  assert.equal(t.isOn("198.51.100.2", 1000), false, "never started");
  assert.deepEqual(t.get("198.51.100.1", 2000), {
    startMs: 1000,
    untilMs: 1000 + 10 * MIN,
    sinceWallMs: 1_700_000_000_000,
    untilWallMs: 1_700_000_000_000 + 10 * MIN,
    mode: "sudp",
    port: 7,
    liftByDaemon: false,
  });
  assert.equal(t.get("198.51.100.1", 1000 + 10 * MIN), undefined, "get: only while on");
  assert.equal(t.started, 1);
});

test("knows: within memoryMs of the start, whether still on probation or not; not after", () => {
  const t = table(100, 60 * MIN);
  t.start(hit("198.51.100.1", 5000), 10 * MIN, 0, false);
  assert.equal(t.knows("198.51.100.1", 5000), true);
  assert.equal(t.knows("198.51.100.1", 5000 + 30 * MIN), true, "probation over, still remembered");
  assert.equal(t.isOn("198.51.100.1", 5000 + 30 * MIN), false);
  assert.equal(t.knows("198.51.100.1", 5000 + 60 * MIN - 1), true);
  assert.equal(t.knows("198.51.100.1", 5000 + 60 * MIN), false, "memory over");
  assert.equal(t.knows("198.51.100.9", 5000), false, "never started");
});

test("capacity: past it the source put on probation longest ago is forgotten, and counted", () => {
  const t = table(3);
  for (const [i, a] of ["198.51.100.1", "198.51.100.2", "198.51.100.3"].entries())
    t.start(hit(a, i), MIN, 0, false);
  assert.equal(t.evicted, 0);
  t.start(hit("198.51.100.4", 10), MIN, 0, false);
  assert.equal(t.evicted, 1);
  assert.equal(t.knows("198.51.100.1", 10), false, "the first one is forgotten");
  assert.equal(t.isOn("198.51.100.1", 10), false);
  for (const a of ["198.51.100.2", "198.51.100.3", "198.51.100.4"]) assert.equal(t.isOn(a, 10), true, a);
  t.start(hit("198.51.100.5", 11), MIN, 0, false);
  t.start(hit("198.51.100.6", 12), MIN, 0, false);
  assert.equal(t.evicted, 3);
  assert.equal(t.countOn(12), 3, "never more than capacity");
  assert.equal(t.started, 6);
  // Renewing a known source replaces its entry: nothing is forgotten.
  t.start(hit("198.51.100.6", 13), MIN, 0, false);
  assert.equal(t.evicted, 3);
  assert.equal(t.countOn(13), 3);
});

test("capacity: looking a source up does not keep it (the least recently PUT ON is forgotten)", () => {
  const t = table(2);
  t.start(hit("198.51.100.1", 0), MIN, 0, false);
  t.start(hit("198.51.100.2", 1), MIN, 0, false);
  // The policy asks about every hit's source (knows, isOn): a look-up, not a new probation.
  assert.equal(t.knows("198.51.100.1", 2), true);
  assert.equal(t.isOn("198.51.100.1", 2), true);
  t.start(hit("198.51.100.3", 3), MIN, 0, false);
  assert.equal(t.evicted, 1);
  assert.equal(t.knows("198.51.100.1", 3), false, "198.51.100.1 was put on first: it goes first");
  assert.equal(t.knows("198.51.100.2", 3), true);
});

test("end without forget: off probation at once, still a known repeat offender; returns the entry", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), 10 * MIN, 0, true);
  const e = t.end("198.51.100.1", 1000, false);
  assert.equal(e?.untilMs, 10 * MIN, "the entry it was on");
  assert.equal(t.isOn("198.51.100.1", 1000), false);
  assert.equal(t.get("198.51.100.1", 1000), undefined);
  assert.equal(t.knows("198.51.100.1", 1000), true);
  assert.equal(t.countOn(1000), 0);
  // Not on probation: nothing to end.
  assert.equal(t.end("198.51.100.1", 2000, false), undefined);
  assert.equal(t.end("198.51.100.9", 2000, false), undefined);
  assert.equal(t.knows("198.51.100.1", 2000), true);
});

test("end with forget: neither on probation nor known", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), 10 * MIN, 0, false);
  assert.ok(t.end("198.51.100.1", 1000, true) !== undefined);
  assert.equal(t.isOn("198.51.100.1", 1000), false);
  assert.equal(t.knows("198.51.100.1", 1000), false);
  // An expired probation still remembered is forgotten too.
  t.start(hit("198.51.100.2", 0), MIN, 0, false);
  assert.equal(t.end("198.51.100.2", 2 * MIN, true), undefined, "not on probation any more");
  assert.equal(t.knows("198.51.100.2", 2 * MIN), false);
  assert.equal(t.evicted, 0, "a forget is no eviction");
});

test("takeEnded: only the daemon's probations whose time is up, each once, in order", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), MIN, 0, true);
  t.start(hit("198.51.100.2", 100), MIN, 0, false); // the firewall lifts it itself
  t.start(hit("198.51.100.3", 200), MIN, 0, true);
  t.start(hit("198.51.100.4", 300), MIN, 0, true);
  assert.equal(t.nextLiftMs(), MIN);
  assert.deepEqual(t.takeEnded(MIN - 1), [], "nothing is up yet");
  assert.deepEqual(t.takeEnded(MIN), ["198.51.100.1"]);
  assert.deepEqual(t.takeEnded(MIN), [], "each once");
  assert.equal(t.nextLiftMs(), MIN + 200);
  assert.deepEqual(t.takeEnded(MIN + 1000), ["198.51.100.3", "198.51.100.4"]);
  assert.deepEqual(t.takeEnded(10 * MIN), []);
  assert.equal(t.nextLiftMs(), undefined);
});

test("takeEnded: a probation ended early or renewed is not lifted at its first end", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), MIN, 0, true);
  t.start(hit("198.51.100.2", 0), MIN, 0, true);
  t.start(hit("198.51.100.3", 0), MIN, 0, true);
  t.start(hit("198.51.100.4", 0), MIN, 0, true);
  t.end("198.51.100.1", 1000, false); // a long ban replaced it
  t.end("198.51.100.2", 1000, true); // unblock
  t.start(hit("198.51.100.3", 30_000), MIN, 0, true); // renewed: ends 30 s later
  assert.deepEqual(t.takeEnded(MIN), ["198.51.100.4"]);
  assert.equal(t.nextLiftMs(), MIN + 30_000);
  assert.deepEqual(t.takeEnded(MIN + 29_999), []);
  assert.deepEqual(t.takeEnded(MIN + 30_000), ["198.51.100.3"], "lifted at its renewed end, once");
  assert.deepEqual(t.takeEnded(MIN + 60_000), []);
});

test("takeEnded: renewed by the firewall's own lift (liftByDaemon false) is not lifted by the daemon", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), MIN, 0, true);
  t.start(hit("198.51.100.1", 1000), MIN, 0, false);
  assert.deepEqual(t.takeEnded(2 * MIN), []);
});

test("takeEnded: many probations (the queue is compacted) are each lifted once", () => {
  const t = table(10_000);
  const n = 5000;
  for (let i = 0; i < n; i++) t.start(hit(`10.0.${i >> 8}.${i & 255}`, i), MIN, 0, true);
  const lifted: string[] = [];
  for (let now = MIN; now < MIN + n + 10; now += 7) lifted.push(...t.takeEnded(now));
  assert.equal(lifted.length, n);
  assert.equal(new Set(lifted).size, n);
  assert.equal(t.nextLiftMs(), undefined);
  // The queue still works after compaction.
  t.start(hit("198.51.100.1", 3 * MIN), MIN, 0, true);
  assert.equal(t.nextLiftMs(), 4 * MIN);
  assert.deepEqual(t.takeEnded(4 * MIN), ["198.51.100.1"]);
});

test("list: only sources on probation now, at most max; countOn counts the same", () => {
  const t = table();
  t.start(hit("198.51.100.1", 0), MIN, 0, false);
  t.start(hit("198.51.100.2", 0), 10 * MIN, 0, false);
  t.start(hit("198.51.100.3", 0), 10 * MIN, 0, false);
  t.start(hit("2001:db8::4", 0), 10 * MIN, 0, false);
  t.end("198.51.100.3", 1000, false);
  assert.equal(t.countOn(1000), 3);
  assert.equal(t.countOn(2 * MIN), 2, "198.51.100.1's probation is over");
  const now = t.list(2 * MIN, 100);
  assert.deepEqual(now.map((e) => e.address).sort(), ["198.51.100.2", "2001:db8::4"]);
  assert.ok(now.every((e) => e.entry.untilMs > 2 * MIN));
  assert.equal(t.list(2 * MIN, 1).length, 1, "capped at max");
  assert.equal(t.list(2 * MIN, 0).length, 0);
  assert.equal(t.list(1000, 2).length, 2);
  assert.equal(t.countOn(10 * MIN), 0);
  assert.deepEqual(t.list(10 * MIN, 100), []);
});
