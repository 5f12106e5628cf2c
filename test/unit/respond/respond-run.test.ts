import assert from "node:assert/strict";
import { test } from "node:test";
import { describeFailure, run, succeeded } from "../../../src/respond/run.js";

const node = process.execPath;

test("run: exit status, stdout, stderr and stdin, no shell", async () => {
  const r = await run(
    [node, "-e", "process.stdin.pipe(process.stdout); console.error('e'); process.exitCode = 3", "--"],
    {
      timeoutMs: 10_000,
      input: "in $(echo no) `x`\n",
    },
  );
  assert.equal(r.code, 3);
  assert.equal(r.stdout, "in $(echo no) `x`\n");
  assert.equal(r.stderr, "e\n");
  assert.equal(succeeded(r), false);
  assert.match(describeFailure(["prog", "arg"], r), /^prog arg: exit status 3: e$/);
  const ok = await run([node, "-e", "process.stdout.write(process.argv[1])", "a; rm -rf /"], {
    timeoutMs: 10_000,
  });
  assert.equal(ok.stdout, "a; rm -rf /");
  assert.equal(succeeded(ok), true);
});

test("run: a hung child is killed at the timeout", async () => {
  const t0 = performance.now();
  const r = await run([node, "-e", "setInterval(() => {}, 1000)"], { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.equal(succeeded(r), false);
  assert.ok(performance.now() - t0 < 30_000, "killed, not left to run");
  assert.match(describeFailure(["x"], r), /timed out/);
});

test("run: a missing program or an empty argv is a result, not a throw", async () => {
  const missing = await run(["/nonexistent/psfw-no-such-program"], { timeoutMs: 1000 });
  assert.equal(missing.code, null);
  assert.match(missing.spawnError ?? "", /ENOENT/);
  assert.match(describeFailure(["/nonexistent/psfw-no-such-program"], missing), /could not run/);
  assert.ok((await run([], { timeoutMs: 1000 })).spawnError);
  assert.ok((await run(["a\0b"], { timeoutMs: 1000 })).spawnError);
});

test("run: output beyond the cap kills the child", async () => {
  const r = await run([node, "-e", "process.stdout.write('x'.repeat(100000))"], {
    timeoutMs: 10_000,
    maxOutputBytes: 1000,
  });
  assert.equal(succeeded(r), false);
  assert.equal(r.spawnError, "output too large");
});
