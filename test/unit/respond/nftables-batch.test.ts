import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { NftSession } from "../../../src/respond/nft-session.js";
import { batchLine, isValidNftTableName, nftDuration, nftSetupLine } from "../../../src/respond/nftables.js";
import { commandSafeAddress } from "../../../src/respond/target.js";

test("nftDuration writes small components", () => {
  assert.equal(nftDuration(0), "0s");
  assert.equal(nftDuration(59), "59s");
  assert.equal(nftDuration(3600), "1h");
  assert.equal(nftDuration(86400 * 7 + 61), "7d1m1s");
  assert.equal(nftDuration(100_000_000), "1157d9h46m40s");
});

test("batchLine: call order kept, groups merged, last ban wins, unban is add+delete", () => {
  const line = batchLine("portsentry", [
    { kind: "ban", address: "198.51.100.1", family: 4, timeoutSec: 60 },
    { kind: "ban", address: "198.51.100.2", family: 4, timeoutSec: 0 },
    { kind: "ban", address: "198.51.100.1", family: 4, timeoutSec: 120 },
    { kind: "ban", address: "2001:db8::1", family: 6, timeoutSec: 0 },
    { kind: "unban", address: "198.51.100.2", family: 4, timeoutSec: 0 },
  ]);
  assert.equal(
    line,
    [
      "add element inet portsentry blocked4 { 198.51.100.1, 198.51.100.2 }",
      "delete element inet portsentry blocked4 { 198.51.100.1, 198.51.100.2 }",
      "add element inet portsentry blocked4 { 198.51.100.1 timeout 2m, 198.51.100.2 }",
      "add element inet portsentry blocked6 { 2001:db8::1 }",
      "delete element inet portsentry blocked6 { 2001:db8::1 }",
      "add element inet portsentry blocked6 { 2001:db8::1 }",
      "add element inet portsentry blocked4 { 198.51.100.2 }",
      "delete element inet portsentry blocked4 { 198.51.100.2 }",
      // A lift ends a probation too.
      "add element inet portsentry probation4 { 198.51.100.2 }",
      "delete element inet portsentry probation4 { 198.51.100.2 }",
    ].join("; "),
  );
});

test("batchLine: a probation goes to the probation sets with its timeout, never the blocked ones", () => {
  const line = batchLine("portsentry", [
    { kind: "probation", address: "198.51.100.7", family: 4, timeoutSec: 600 },
    { kind: "probation", address: "2001:db8::7", family: 6, timeoutSec: 600 },
  ]);
  assert.equal(
    line,
    [
      "add element inet portsentry probation4 { 198.51.100.7 }",
      "delete element inet portsentry probation4 { 198.51.100.7 }",
      "add element inet portsentry probation4 { 198.51.100.7 timeout 10m }",
      "add element inet portsentry probation6 { 2001:db8::7 }",
      "delete element inet portsentry probation6 { 2001:db8::7 }",
      "add element inet portsentry probation6 { 2001:db8::7 timeout 10m }",
    ].join("; "),
  );
  assert.doesNotMatch(line, /blocked/);
});

test("setup line: one line, idempotent pieces, prerouting at -300", () => {
  const line = nftSetupLine("portsentry", 65536);
  assert.ok(!line.includes("\n"));
  assert.match(line, /hook prerouting priority -300/);
  // Probation is dropped after the kernel trap's chain (-150), which reports its repeats.
  assert.match(line, /add chain inet portsentry probation \{ type filter hook prerouting priority -140;/);
  assert.match(line, /add rule inet portsentry probation ip saddr @probation4 counter drop/);
  assert.match(line, /flush chain inet portsentry prerouting; add rule/);
  assert.ok(isValidNftTableName("portsentry"));
  for (const bad of ["", "a b", "x;flush ruleset", "1abc", "a".repeat(33)])
    assert.equal(isValidNftTableName(bad), false);
});

test("commandSafeAddress: only canonical address text, of the stated family", () => {
  assert.equal(commandSafeAddress({ address: "2001:DB8:0::1", family: 6 }), "2001:db8::1");
  assert.equal(commandSafeAddress({ address: "198.51.100.1", family: 4 }), "198.51.100.1");
  assert.equal(commandSafeAddress({ address: "198.51.100.1", family: 6 }), undefined);
  fc.assert(
    fc.property(fc.string(), fc.constantFrom(4 as const, 6 as const), (text, family) => {
      const out = commandSafeAddress({ address: text, family });
      return out === undefined || /^[0-9a-f.:]+$/.test(out);
    }),
  );
});

/** A stand-in for `nft -i`: "fail" lines and marker lines get nft's error block on stderr. */
const FAKE_NFT = `
const rl = require("node:readline").createInterface({ input: process.stdin });
let hung = false;
rl.on("line", (line) => {
  if (hung || line === "hang") return (hung = true);
  if (line === "die") process.exit(1);
  if (line.startsWith("%") || line.startsWith("fail")) {
    const msg = line.startsWith("%") ? "syntax error, unexpected junk" : "No such file or directory";
    // Written in pieces, as nft does, to exercise line reassembly.
    process.stderr.write("Error: ");
    process.stderr.write(msg + "\\n" + line + "\\n" + "^".repeat(line.length) + "\\n");
  }
});`;

// Deadlines in seconds: spawning node on a machine still busy after installing packages can
// take over a second, and a healthy helper must never be taken for a hung one.
function fakeSession(commandTimeoutMs = 10_000): NftSession {
  return new NftSession({
    command: [process.execPath, "-e", FAKE_NFT, "--"],
    commandTimeoutMs,
    restartBackoffMinMs: 10,
    restartBackoffMaxMs: 100,
  });
}

test("NftSession: markers tell completion and failure apart, pipelined", async () => {
  const s = fakeSession();
  try {
    const results = await Promise.all([
      s.exec("add ok"),
      s.exec("fail here"),
      s.exec(""),
      s.exec("add ok 2"),
    ]);
    assert.deepEqual(results[0], { kind: "ok" });
    assert.deepEqual(results[1], { kind: "nft-error", error: "Error: No such file or directory" });
    assert.deepEqual(results[2], { kind: "ok" });
    assert.deepEqual(results[3], { kind: "ok" });
    assert.equal((await s.exec("a\nb")).kind, "nft-error");
  } finally {
    await s.close(1000);
  }
});

test("NftSession: a dying helper fails its lines, the next line gets a new helper", async () => {
  const s = fakeSession();
  try {
    assert.deepEqual(await s.exec("add ok"), { kind: "ok" });
    const pid = s.pid;
    const dead = await s.exec("die");
    assert.equal(dead.kind, "helper-failure");
    assert.deepEqual(await s.exec("add ok"), { kind: "ok" });
    assert.notEqual(s.pid, pid);
  } finally {
    await s.close(1000);
  }
});

test("NftSession: a hung helper times out and is replaced", async () => {
  const s = fakeSession(5_000);
  try {
    const hung = await s.exec("hang");
    assert.equal(hung.kind, "helper-failure");
    assert.deepEqual(await s.exec("add ok"), { kind: "ok" });
  } finally {
    await s.close(1000);
  }
  assert.equal((await s.exec("add ok")).kind, "helper-failure", "closed");
});
