import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const build = () =>
  spawnSync("bash", ["scripts/build.sh"], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });

test("scripts/build.sh: run again with nothing changed, it builds nothing", () => {
  const first = build(); // may build what an edit left stale
  assert.equal(first.status, 0, first.stderr);
  const second = build();
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /^build: /m, "a second run rebuilt something");
});
