import assert from "node:assert/strict";
import { test } from "node:test";
import {
  againPrefix,
  modeOfPrefix,
  overLimitPrefix,
  trapOfPrefix,
  trapPrefix,
} from "../../src/kernel-trap-names.js";

test("prefixes and modes", () => {
  for (const mode of ["stcp", "sudp", "atcp", "audp"] as const)
    assert.equal(modeOfPrefix(trapPrefix(mode)), mode);
  assert.equal(modeOfPrefix("portsentry:tcp"), undefined);
  assert.equal(modeOfPrefix("ulogd"), undefined);
  for (const mode of ["stcp", "sudp", "atcp", "audp"] as const) {
    assert.deepEqual(trapOfPrefix(trapPrefix(mode)), { mode, report: "trapped" });
    assert.deepEqual(trapOfPrefix(overLimitPrefix(mode)), { mode, report: "over-limit" });
    assert.deepEqual(trapOfPrefix(againPrefix(mode)), { mode, report: "again" });
  }
  assert.equal(trapOfPrefix("portsentry:over:tcp"), undefined);
  assert.equal(trapOfPrefix("portsentry:again:udp"), undefined);
  assert.equal(trapOfPrefix("portsentry:again:"), undefined);
  // nft's prefix limit is 127 bytes; NFLOG's 64 with the NUL.
  assert.ok(overLimitPrefix("audp").length < 64);
  assert.ok(againPrefix("audp").length < 64);
});
