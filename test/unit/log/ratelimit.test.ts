import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RateLimiter } from "../../../src/log/ratelimit.js";

test("per key: perKey lines a window, the rest counted and reported when the key speaks again", () => {
  const rl = new RateLimiter({ windowMs: 1000, perKey: 2, total: 100 });
  assert.deepEqual(rl.check("192.0.2.1", 0), { allow: true, suppressed: 0 });
  assert.deepEqual(rl.check("192.0.2.1", 10), { allow: true, suppressed: 0 });
  assert.deepEqual(rl.check("192.0.2.1", 20), { allow: false });
  assert.deepEqual(rl.check("192.0.2.1", 999), { allow: false });
  assert.deepEqual(
    rl.check("192.0.2.2", 999),
    { allow: true, suppressed: 0 },
    "another key is not held back",
  );
  assert.deepEqual(rl.check("192.0.2.1", 1000), { allow: true, suppressed: 2 });
  assert.equal(rl.stats().suppressed, 2);
});

test("over all keys: spoofed sources (a new key each) are held back by the total", () => {
  const rl = new RateLimiter({ windowMs: 1000, perKey: 5, total: 3 });
  const allowed = Array.from({ length: 10 }, (_, i) => rl.check(`198.51.100.${i}`, 5).allow);
  assert.deepEqual(allowed, [true, true, true, false, false, false, false, false, false, false]);
  assert.equal(rl.stats().keys, 3, "keys met after the budget was spent get no entry");
  assert.equal(rl.stats().suppressed, 7);
  assert.equal(rl.check("198.51.100.200", 1005).allow, true, "a new window lets lines through again");
});

test("the key table never grows past maxKeys; least recently used keys are evicted", () => {
  const rl = new RateLimiter({ windowMs: 1000, perKey: 1, total: 1_000_000, maxKeys: 2 });
  rl.check("a", 0);
  rl.check("b", 0);
  rl.check("a", 1); // a is now the most recent
  rl.check("c", 2); // evicts b
  assert.deepEqual(rl.stats(), { keys: 2, suppressed: 1, evicted: 1 });
  assert.equal(rl.check("a", 3).allow, false, "a was kept, with its count");
  assert.equal(rl.check("b", 3).allow, true, "b was forgotten");
});

test("bounded under any sequence of keys and times (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat(100)), { maxLength: 500 }),
      (events) => {
        const rl = new RateLimiter({ windowMs: 10, perKey: 2, total: 20, maxKeys: 8 });
        let nowMs = 0;
        let allowed = 0;
        for (const [key, dt] of events) {
          nowMs += dt;
          if (rl.check(String(key), nowMs).allow) allowed++;
          assert.ok(rl.stats().keys <= 8);
        }
        assert.equal(allowed + rl.stats().suppressed, events.length);
      },
    ),
  );
});
