import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parsePrefix } from "../../../src/config/ignore.js";
import { candidatePorts } from "../../../src/port-set.js";
import { KernelTrap } from "../../../src/respond/kernel-trap.js";
import { testConfig } from "../../helpers/config.js";

test("a bad spec is the caller's bug: the constructor throws", () => {
  assert.throws(() => new KernelTrap({ modes: [], timeoutSec: -1, maxBlocksPerMinute: 1 }));
  assert.throws(() => new KernelTrap({ modes: [], timeoutSec: 0, maxBlocksPerMinute: 1, command: [] }));
});

test("runtime: sets before arming cost no nft run; unchanged sets cost none after", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ktrap-"));
  const logFile = join(dir, "nft.log");
  try {
    // A stand-in for nft: appends each transaction it is given on stdin (`-f -`) to a file.
    const command = ["sh", "-c", 'cat >> "$0"; echo ---- >> "$0"', logFile];
    const config = testConfig("/t");
    const trap = new KernelTrap({
      modes: [{ mode: "stcp", ports: candidatePorts("stcp", config) }],
      timeoutSec: 3600,
      maxBlocksPerMinute: 60,
      command,
    });
    const transactions = async () =>
      (await readFile(logFile, "utf8").catch(() => "")).split("----\n").filter((t) => t !== "");
    const loopback = parsePrefix("127.0.0.0/8");
    assert.ok(loopback.ok);
    assert.deepEqual(await trap.setProtected([loopback.prefix]), { ok: true, changed: true });
    assert.deepEqual(await trap.setHostAddresses(["192.0.2.1"]), { ok: true, changed: true });
    assert.equal(trap.armed, false);
    assert.deepEqual(await transactions(), []);

    assert.deepEqual(await trap.start(), { ok: true });
    assert.equal(trap.armed, true);
    const armed = await transactions();
    // The responder's table and sets, then the trap: two transactions, never one.
    assert.equal(armed.length, 2);
    assert.match(
      armed[1] ?? "",
      /add element inet portsentry protect4 \{ 127\.0\.0\.0-127\.255\.255\.255 \}/,
    );
    assert.match(armed[1] ?? "", /add element inet portsentry hosts4 \{ 192\.0\.2\.1 \}/);

    assert.deepEqual(await trap.setHostAddresses(["192.0.2.1"]), { ok: true, changed: false });
    assert.equal((await transactions()).length, 2);
    assert.deepEqual(await trap.setHostAddresses(["192.0.2.2"]), { ok: true, changed: true });
    const after = await transactions();
    assert.equal(after.length, 3);
    assert.equal(
      after[2],
      "flush set inet portsentry hosts4\nadd element inet portsentry hosts4 { 192.0.2.2 }\nflush set inet portsentry hosts6\n",
    );

    assert.deepEqual(await trap.disarm(), { ok: true });
    assert.equal(trap.armed, false);
    assert.match((await transactions())[3] ?? "", /delete chain inet portsentry trap\n/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("runtime: a failing nft is a result, not a throw, and leaves the trap unarmed", async () => {
  const trap = new KernelTrap({ modes: [], timeoutSec: 0, maxBlocksPerMinute: 0, command: ["false"] });
  const r = await trap.start();
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.error, /^kernel trap: cannot create the table: /);
  assert.equal(trap.armed, false);
});

test("the kernel's totals are read from the small tally sets, never through `nft list counter`", async () => {
  // `nft list counter` loads every set's elements first (seconds under a flood that filled the
  // probation sets); `nft list set` of a tally set reads only it. The fake nft prints its argv
  // to stderr and answers as nft 1.0.6 does for a tally set.
  const answer = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      {
        set: {
          family: "inet",
          name: "tally_probes",
          elem: [
            { elem: { val: "tcp", counter: { packets: 1200, bytes: 48000 } } },
            { elem: { val: "udp", counter: { packets: 34, bytes: 1500 } } },
          ],
        },
      },
    ],
  });
  const argvs: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), "ktrap-"));
  try {
    const logFile = join(dir, "argv");
    const command = ["sh", "-c", 'echo "$@" >> "$0"; printf "%s" "$ANSWER"', logFile];
    process.env.ANSWER = answer;
    const trap = new KernelTrap({ modes: [], timeoutSec: 0, maxBlocksPerMinute: 0, command });
    assert.equal(await trap.probeCount(), 1234);
    assert.equal(await trap.overLimitCount(), 1234);
    assert.equal(await trap.probationCount(), 1234);
    argvs.push(...(await readFile(logFile, "utf8")).trim().split("\n"));
  } finally {
    delete process.env.ANSWER;
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(argvs, [
    "-j list set inet portsentry tally_probes",
    "-j list set inet portsentry tally_over_limit",
    "-j list set inet portsentry tally_probations",
  ]);
});
