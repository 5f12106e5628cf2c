import assert from "node:assert/strict";
import { test } from "node:test";
import { modeOfPrefix, trapPrefix } from "../../src/kernel-trap-names.js";

test("prefixes and modes", () => {
  for (const mode of ["stcp", "sudp", "atcp", "audp"] as const)
    assert.equal(modeOfPrefix(trapPrefix(mode)), mode);
  assert.equal(modeOfPrefix("portsentry:tcp"), undefined);
  assert.equal(modeOfPrefix("ulogd"), undefined);
});
