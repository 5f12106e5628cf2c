import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { TriggerTable } from "../../../src/detect/trigger.js";

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

/** The table's contract in a few lines: a Map kept in recency order (oldest first). */
class ReferenceTable {
  readonly entries = new Map<string, { count: number; lastMs: number }>();
  evictions = 0;
  constructor(
    readonly cap: number,
    readonly windowMs: number,
  ) {}
  record(source: string, nowMs: number): number {
    const e = this.entries.get(source);
    if (e !== undefined) {
      this.entries.delete(source);
      if (nowMs - e.lastMs > this.windowMs) e.count = 0;
      e.count++;
      e.lastMs = nowMs;
      this.entries.set(source, e);
      return e.count;
    }
    if (this.entries.size >= this.cap) {
      this.entries.delete(this.entries.keys().next().value as string);
      this.evictions++;
    }
    this.entries.set(source, { count: 1, lastMs: nowMs });
    return 1;
  }
  forget(source: string): void {
    this.entries.delete(source);
  }
  sweep(nowMs: number): void {
    for (const [k, e] of this.entries) {
      if (nowMs - e.lastMs <= this.windowMs) break;
      this.entries.delete(k);
    }
  }
}

test("property: counts, evictions, forget and sweep agree with a reference LRU", () => {
  const op = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constant("hit"), fc.integer({ min: 0, max: 40 }), fc.nat(30)) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constant("forget"), fc.integer({ min: 0, max: 40 }), fc.constant(0)),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constant("sweep"), fc.constant(0), fc.nat(60)) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 1, max: 24 }), (ops, cap) => {
      const windowMs = 50;
      const t = new TriggerTable({ scanTrigger: 3, maxSources: cap, windowMs });
      const ref = new ReferenceTable(cap, windowMs);
      let now = 0;
      for (const [kind, src, dt] of ops) {
        now += dt;
        // Addresses that collide in the hash slots now and then: short, similar strings.
        const source = `198.51.100.${src}`;
        if (kind === "hit") assert.equal(t.record(source, now), ref.record(source, now));
        else if (kind === "forget") {
          t.forget(source);
          ref.forget(source);
        } else {
          t.sweep(now);
          ref.sweep(now);
        }
        assert.deepEqual(t.stats(), { tracked: ref.entries.size, evictions: ref.evictions });
      }
      // Every source the reference still holds is still counted by the table, and no other.
      for (let src = 0; src <= 40; src++) {
        const source = `198.51.100.${src}`;
        const held = ref.entries.get(source);
        const count = t.record(source, now);
        const expected = ref.record(source, now);
        assert.equal(count, expected, `${source} (held: ${held !== undefined})`);
      }
    }),
    { numRuns: 300 },
  );
});
