import assert from "node:assert/strict";
import { test } from "node:test";
import { commandArgv, expandMacros } from "../../../src/respond/template.js";

test("macros expand to the validated values", () => {
  assert.equal(
    expandMacros("/sbin/iptables -I INPUT -s $TARGET$ -j DROP # $PORT$ $MODE$", {
      address: "192.0.2.7",
      port: 143,
      mode: "atcp",
    }),
    "/sbin/iptables -I INPUT -s 192.0.2.7 -j DROP # 143 atcp",
  );
});

test("anything but a validated address is refused", () => {
  for (const address of ["192.0.2.1; rm -rf /", "$(reboot)", "a b", "", "`id`"]) {
    assert.throws(() => expandMacros("x $TARGET$", { address, port: 1, mode: "tcp" }));
  }
  assert.throws(() => expandMacros("x", { address: "192.0.2.1", port: 70000, mode: "tcp" }));
});

test("plain 1.2 templates run without a shell; shell syntax runs under /bin/sh -c", () => {
  assert.deepEqual(commandArgv("/sbin/route add -host 192.0.2.7 reject"), [
    "/sbin/route",
    "add",
    "-host",
    "192.0.2.7",
    "reject",
  ]);
  assert.deepEqual(commandArgv("/sbin/ip6tables -I INPUT -s 2001:db8::7 -j DROP").length, 7);
  const piped = "/bin/echo 'block in log on eth0 from 192.0.2.7/32 to any' | /sbin/ipf -f -";
  assert.deepEqual(commandArgv(piped), ["/bin/sh", "-c", piped]);
});
