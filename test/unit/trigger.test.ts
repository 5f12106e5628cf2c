import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { TriggerTable } from "../../src/detect/trigger.js";

const opts = { maxSources: 1000, windowMs: 60_000 };

test("SCAN_TRIGGER 0 and 1 are reached on the first hit; N on the Nth and after", () => {
  for (const [trigger, firesOn] of [
    [0, 1],
    [1, 1],
    [2, 2],
    [3, 3],
  ] as const) {
    const t = new TriggerTable({ ...opts, scanTrigger: trigger });
    for (let i = 1; i <= 5; i++) {
      assert.equal(t.reached(t.record("192.0.2.9", i)), i >= firesOn, `SCAN_TRIGGER=${trigger}, hit ${i}`);
    }
  }
});

test("SCAN_TRIGGER 0 and 1 store nothing: a spoofed flood leaves the table empty", () => {
  for (const scanTrigger of [0, 1]) {
    const t = new TriggerTable({ ...opts, scanTrigger });
    for (let i = 0; i < 5000; i++) assert.equal(t.record(`198.51.100.${i % 256}/${i}`, i), 1);
    assert.deepEqual(t.stats(), { tracked: 0, evictions: 0 });
  }
});

test("counts are per source and forgotten after the window", () => {
  const t = new TriggerTable({ ...opts, scanTrigger: 3 });
  assert.equal(t.record("192.0.2.1", 0), 1);
  assert.equal(t.record("192.0.2.2", 1), 1);
  assert.equal(t.record("192.0.2.1", 2), 2);
  assert.equal(t.record("192.0.2.1", 2 + 60_001), 1, "idle longer than the window: starts again");
  t.sweep(200_000);
  assert.equal(t.stats().tracked, 0);
});

test("the table never grows past its cap and counts evictions", () => {
  const t = new TriggerTable({ scanTrigger: 2, maxSources: 100, windowMs: 1e9 });
  for (let i = 0; i < 10_000; i++) t.record(`198.51.100.${i % 256}/${i}`, i);
  assert.equal(t.stats().tracked, 100);
  assert.equal(t.stats().evictions, 9_900);
});

test("eviction takes the least recently hit source", () => {
  const t = new TriggerTable({ scanTrigger: 5, maxSources: 2, windowMs: 1e9 });
  t.record("a", 1);
  t.record("b", 2);
  t.record("a", 3); // a is now the most recent
  t.record("c", 4); // evicts b
  assert.equal(t.record("a", 5), 3);
  assert.equal(t.record("b", 6), 1);
});

test("property: size stays within the cap for any sequence", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat(1000))),
      fc.integer({ min: 1, max: 20 }),
      (ops, cap) => {
        const t = new TriggerTable({ scanTrigger: 2, maxSources: cap, windowMs: 100 });
        let now = 0;
        for (const [src, dt] of ops) {
          now += dt;
          assert.ok(t.record(String(src), now) >= 1);
          assert.ok(t.stats().tracked <= cap);
        }
      },
    ),
  );
});
