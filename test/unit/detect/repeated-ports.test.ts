import assert from "node:assert/strict";
import { test } from "node:test";
import { RepeatedPorts } from "../../../src/detect/repeated-ports.js";

test("a hit that repeats its source's previous port is counted; a port walk is not", () => {
  const r = new RepeatedPorts(4096);
  assert.equal(r.note("198.51.100.20", 17, 514), false);
  assert.equal(r.note("198.51.100.20", 17, 514), true);
  assert.equal(r.note("198.51.100.20", 6, 514), false, "another protocol");
  for (let port = 1; port <= 10; port++) assert.equal(r.note("198.51.100.7", 6, port), false);
  assert.equal(r.note("2001:db8::7", 6, 10), false, "another source");
  assert.equal(r.repeats, 1);
});

test("bounded: a flood of new sources only takes slots over; a neighbour is counted again from its next knock", () => {
  const r = new RepeatedPorts(64);
  r.note("198.51.100.9", 17, 514);
  for (let i = 0; i < 64_000; i++) r.note(`2001:db8::${i.toString(16)}`, 6, 1 + (i % 1000));
  assert.ok(r.evicted > 60_000, `evicted ${r.evicted}`);
  assert.ok(r.repeats < 64, `a flood of new sources repeats nothing (${r.repeats})`);
  r.note("198.51.100.9", 17, 514);
  let counted = 0;
  for (let i = 0; i < 40; i++) if (r.note("198.51.100.9", 17, 514)) counted++;
  assert.equal(counted, 40);
});
