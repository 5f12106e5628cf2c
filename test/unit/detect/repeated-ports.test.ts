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
  // The table keeps two sources: the first is forgotten after two others.
  r.note("198.51.100.8", 6, 1);
  assert.equal(r.note("198.51.100.20", 6, 514), false);
  assert.ok(r.evicted >= 2, `evicted ${r.evicted}`);
});
