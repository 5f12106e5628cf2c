import assert from "node:assert/strict";
import { test } from "node:test";
import { reconciledHit, UNREPORTED_KERNEL_BLOCK, unrecordedBlocks } from "../../src/kernel-trap-reconcile.js";

test("kernel blocks the daemon did not record become hits", () => {
  assert.deepEqual(
    unrecordedBlocks([{ address: "192.0.2.2" }, { address: "192.0.2.3" }], (a) => a === "192.0.2.2"),
    [{ address: "192.0.2.3" }],
  );
  assert.deepEqual(reconciledHit({ address: "2001:db8::9", family: 6 }, "atcp", 5), {
    mode: "atcp",
    address: "2001:db8::9",
    family: 6,
    port: 0,
    classification: UNREPORTED_KERNEL_BLOCK,
    ipOptions: false,
    nowMs: 5,
    kernelBlocked: true,
  });
});
