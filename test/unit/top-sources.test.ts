import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { TopCounts } from "../../src/state/top-sources.js";

test("top counts: exact while the keys fit, most first", () => {
  const t = new TopCounts<string>(4);
  for (const [k, n] of [
    ["192.0.2.1", 5],
    ["192.0.2.2", 9],
    ["192.0.2.3", 1],
  ] as const) {
    for (let i = 0; i < n; i++) t.add(k);
  }
  assert.deepEqual(
    t.top(2).map((e) => [e.key, e.probes, e.error]),
    [
      ["192.0.2.2", 9, 0],
      ["192.0.2.1", 5, 0],
    ],
  );
  assert.equal(t.evictions, 0);
});

test("top counts: a heavy hitter survives a flood of one-off keys; memory stays bounded", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 500 }), (noise) => {
      const t = new TopCounts<number>(8);
      let heavy = 0;
      for (const [i, k] of noise.entries()) {
        t.add(k + 1_000_000);
        if (i % 2 === 0) {
          t.add(7);
          heavy++;
        }
      }
      const top = t.top(100);
      assert.ok(top.length <= 8);
      if (heavy > 0) {
        const e = top.find((x) => x.key === 7);
        assert.ok(e !== undefined, "the heavy hitter is kept");
        assert.ok(
          e.probes >= heavy && e.probes - e.error <= heavy,
          "count is an upper bound, error bounds it",
        );
      }
    }),
  );
});
