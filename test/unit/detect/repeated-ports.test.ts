import assert from "node:assert/strict";
import { test } from "node:test";
import { RepeatedPorts } from "../../../src/detect/repeated-ports.js";

test("a hit that repeats its source's previous port is counted; a port walk is not; bounded", () => {
  const r = new RepeatedPorts(2);
  assert.equal(r.note("198.51.100.20", 17, 514), false);
  assert.equal(r.note("198.51.100.20", 17, 514), true);
  assert.equal(r.note("198.51.100.20", 6, 514), false, "another protocol");
  for (let port = 1; port <= 10; port++) assert.equal(r.note("198.51.100.7", 6, port), false);
  assert.equal(r.repeats, 1);
  // Full: a new source is admitted at one miss in 16, evicting the least recently hit.
  for (let i = 0; i < 16; i++) r.note(`198.51.100.${100 + i}`, 6, 1);
  assert.equal(r.evicted, 1);
  assert.equal(r.note("198.51.100.7", 6, 10), true, "the more recently hit source is kept");
  assert.equal(r.note("198.51.100.20", 6, 514), false, "the least recently hit one is gone");
});

test("a flood of new sources costs one eviction in 16 misses; a repeating neighbour still gets in", () => {
  const r = new RepeatedPorts(64);
  for (let i = 0; i < 64_000; i++) r.note(`2001:db8::${i.toString(16)}`, 6, 1 + (i % 1000));
  assert.ok(r.evicted <= 64_000 / 16, `evicted ${r.evicted}`);
  let counted = 0;
  for (let i = 0; i < 40; i++) if (r.note("198.51.100.9", 17, 514)) counted++;
  assert.ok(counted >= 40 - 17, `counted ${counted} of 40`);
});
