import assert from "node:assert/strict";
import { test } from "node:test";
import { banDurationSec } from "../../../src/policy/ban-duration.js";
import { routeUndoTemplate } from "../../../src/respond/route-undo.js";

test("block timeout grows per earlier block up to the ceiling; 0 is forever", () => {
  const o = { baseSec: 3600, growth: 2, maxSec: 4 * 3600 };
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => banDurationSec(o, n)),
    [3600, 7200, 14400, 14400, 14400],
  );
  assert.equal(banDurationSec({ baseSec: 0, growth: 2, maxSec: 0 }, 5), 0);
  assert.equal(banDurationSec({ baseSec: 60, growth: 1, maxSec: 0 }, 9), 60);
  assert.equal(banDurationSec({ baseSec: 86400, growth: 16, maxSec: 0 }, 1000), 3650 * 86400);
});

test("KILL_ROUTE undo is derived for the usual forms", () => {
  const cases: [string, string | undefined][] = [
    ["/sbin/route add -host $TARGET$ reject", "/sbin/route del -host $TARGET$ reject"],
    ["/sbin/ip route add blackhole $TARGET$", "/sbin/ip route del blackhole $TARGET$"],
    ["ip -6 route add blackhole $TARGET$", "ip -6 route del blackhole $TARGET$"],
    ["/sbin/iptables -I INPUT -s $TARGET$ -j DROP", "/sbin/iptables -D INPUT -s $TARGET$ -j DROP"],
    [
      "/usr/sbin/ip6tables -w -A INPUT 1 -s $TARGET$ -j DROP",
      "/usr/sbin/ip6tables -w -D INPUT -s $TARGET$ -j DROP",
    ],
    ["/sbin/ipfw add 1 deny all from $TARGET$ to any", undefined],
  ];
  for (const [route, undo] of cases) assert.equal(routeUndoTemplate(route, undefined), undo, route);
  assert.equal(routeUndoTemplate("/x $TARGET$", "/y $TARGET$"), "/y $TARGET$");
});
