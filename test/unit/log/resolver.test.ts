import assert from "node:assert/strict";
import { test } from "node:test";
import { NameResolver, safeHostName } from "../../../src/log/resolver.js";

const options = { timeoutMs: 50, maxCached: 2, ttlMs: 1000, maxPending: 2 };

test("only plain host names are shown; anything an attacker could abuse gives the address", () => {
  assert.equal(safeHostName("scanner.example.org."), "scanner.example.org");
  for (const bad of [
    "evil/203.0.113.9 Port: 1 TCP Blocked",
    "a b",
    "x\nattackalert:",
    "-x.example",
    "",
    "a".repeat(300),
  ]) {
    assert.equal(safeHostName(bad), undefined, JSON.stringify(bad));
  }
});

test("names are looked up once, cached, bounded; failures and timeouts give the address", async () => {
  let now = 0;
  let lookups = 0;
  const table: Record<string, string[]> = { "192.0.2.1": ["one.example."], "192.0.2.2": ["bad name"] };
  const r = new NameResolver({
    ...options,
    monoClockMs: () => now,
    lookup: async (a) => {
      lookups++;
      if (a === "192.0.2.3") return new Promise(() => {}); // never answers
      if (!(a in table)) throw new Error("ENOTFOUND");
      return table[a] ?? [];
    },
  });
  assert.equal(await r.nameOf("192.0.2.1"), "one.example");
  assert.equal(r.nameOf("192.0.2.1"), "one.example", "cached: answered synchronously");
  assert.equal(await r.nameOf("192.0.2.2"), "192.0.2.2");
  assert.equal(await r.nameOf("192.0.2.3"), "192.0.2.3", "timeout");
  assert.equal(await r.nameOf("192.0.2.4"), "192.0.2.4", "error");
  assert.equal(lookups, 4);
  now = 5000;
  await r.nameOf("192.0.2.1");
  assert.equal(lookups, 5, "expired entries are looked up again");
});
