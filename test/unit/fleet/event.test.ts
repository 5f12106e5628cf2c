import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEvent, encodeEvent, type FleetEvent, memberName } from "../../../src/fleet/event.js";

const LIMITS = { maxEventBytes: 1024, maxEventFields: 16 };
const E: FleetEvent = {
  kind: "block",
  origin: "web-1",
  address: "2001:db8::5",
  mode: "stcp",
  port: 143,
  classification: "SYN scan",
  sinceMs: 1_700_000_000_000,
  expiresAtMs: 1_700_000_360_000,
};

test("an event encodes to flat fields and decodes back", () => {
  assert.deepEqual(decodeEvent(encodeEvent(E), LIMITS), { ok: true, event: E });
});

test("hostile entries are a reason, never a throw", () => {
  const f = encodeEvent(E);
  const with_ = (k: string, v: string) => f.map((x, i) => (i > 0 && f[i - 1] === k && i % 2 === 1 ? v : x));
  const reason = (fields: readonly unknown[]) => {
    const d = decodeEvent(fields, LIMITS);
    return d.ok ? "ok" : d.reason;
  };
  assert.equal(reason(with_("a", "2001:DB8::5")), "address", "only canonical text: one address, one key");
  assert.equal(reason(with_("a", "192.0.2.300")), "address");
  assert.equal(reason(with_("o", "a b")), "origin");
  assert.equal(reason(with_("m", "tcp6")), "mode");
  assert.equal(reason(with_("p", "70000")), "port");
  assert.equal(reason(with_("s", "-1")), "time");
  assert.equal(reason(with_("e", "5")), "time", "expires before it starts");
  assert.equal(reason(with_("k", "flush")), "kind");
  assert.equal(reason(with_("v", "2")), "version");
  assert.equal(reason([...f, "x"]), "field count");
  assert.equal(reason(Array.from({ length: 40 }, () => "x")), "field count");
  assert.equal(reason([...f.slice(0, -1), "9".repeat(2000)]), "oversized");
  assert.equal(reason([1, 2]), "not text");
  assert.equal(reason([undefined]), "field count");
  // Control bytes in the classification are neutralised, not passed to the logs.
  const d = decodeEvent(with_("c", "SYN\nscan\u001b[31m"), LIMITS);
  assert.ok(d.ok && !d.event.classification.includes("\n") && !d.event.classification.includes("\u001b"));
});

test("member names are what an event may carry", () => {
  assert.equal(memberName("web 1.example"), "web-1.example");
  assert.equal(memberName(""), "member");
  assert.equal(memberName("x".repeat(100)).length, 64);
});
