import assert from "node:assert/strict";
import { test } from "node:test";
import { loadNativeAddon } from "../../../src/sensors/native-addon.js";

type Fn = (...args: unknown[]) => unknown;

/** Too few arguments: a TypeError that names the call's arguments, before anything is opened. */
function assertUsage(call: () => unknown, usage: string): void {
  assert.throws(call, (err: Error & { code?: string }) => {
    assert.ok(err instanceof TypeError, String(err));
    assert.equal(err.code, "ERR_INVALID_ARG_TYPE");
    assert.equal(err.message, usage);
    return true;
  });
}

test("live_capture: open and start with too few arguments say what they take", () => {
  const a = loadNativeAddon<Record<string, Fn>>("live_capture", ["open", "start"]);
  assertUsage(() => a.open!("lo", ""), "open(device, filter, snapLength, bufferBytes, timeoutMs)");
  assertUsage(() => a.start!({}), "start(handle, buffer, slotBytes, onBatch, onError, holdUnderLoadMs)");
});

test("trap_accept: listen, watch and close with too few arguments say what they take", () => {
  const a = loadNativeAddon<Record<string, Fn>>("trap_accept", ["listen", "watch", "close"]);
  assertUsage(() => a.listen!(4, 1), "listen(family, port, backlog)");
  assertUsage(() => a.watch!(0), "watch(fd, onHit, onError?)");
  assertUsage(() => a.close!(), "close(handle)");
});

test("sock_diag: listening checks its protocol and buffer before opening a socket", () => {
  const a = loadNativeAddon<Record<string, Fn>>("sock_diag", ["listening"]);
  assertUsage(() => a.listening!(6), "listening(protocol, into)");
  const into = new Uint8Array(65536);
  for (const protocol of [0, 5, 7, 255, 256, -1, 6.5, Number.NaN]) {
    assert.throws(() => a.listening!(protocol, into), RangeError, String(protocol));
  }
  assert.throws(() => a.listening!(6, new Uint8Array(65535)), RangeError);
  assert.throws(() => a.listening!(17, new Uint8Array(65537)), RangeError);
  assert.throws(() => a.listening!(6, new Uint16Array(65536)), TypeError);
  assert.throws(() => a.listening!(6, new Array(65536).fill(0)), TypeError);
  assert.throws(() => a.listening!(6, Buffer.alloc(65535)), RangeError);
  assert.equal(
    into.every((b) => b === 0),
    true,
    "nothing written on a refused call",
  );
  assert.equal(typeof a.listening!(6, into), "number");
});
