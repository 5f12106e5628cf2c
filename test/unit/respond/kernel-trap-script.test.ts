import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type IpPrefix, parsePrefix } from "../../../src/config/ignore.js";
import { parseIp } from "../../../src/decode/address.js";
import { kernelTrapPlan } from "../../../src/policy/kernel-trap-plan.js";
import { candidatePorts } from "../../../src/port-set.js";
import {
  checkSpec,
  disarmScript,
  graceScript,
  hostPrefixes,
  kernelTrapScript,
  mergePrefixes,
  replaceSetsScript,
  TRAP_PRIORITY,
} from "../../../src/respond/kernel-trap-script.js";
import { chainRules, trapConfig, trapSpec } from "../../helpers/kernel-trap-spec.js";

const prefixes = (...texts: string[]): IpPrefix[] =>
  texts.map((t) => {
    const r = parsePrefix(t);
    assert.ok(r.ok, t);
    return r.prefix;
  });

// ---- nft text ---------------------------------------------------------------------------

test("script: rules in a chain of their own after the blocked-set drop, flushed and refilled", () => {
  const text = kernelTrapScript(
    trapSpec(),
    mergePrefixes(prefixes("127.0.0.0/8", "::1", "198.51.100.0/24")),
    mergePrefixes(hostPrefixes(["192.0.2.1", "2001:db8::1"])),
  );
  const lines = text.trim().split("\n");
  assert.ok(
    lines.includes(
      `add chain inet portsentry trap { type filter hook prerouting priority ${TRAP_PRIORITY}; policy accept; }`,
    ),
  );
  // After conntrack (-200) and its defragmentation, before DNAT (-100).
  assert.equal(TRAP_PRIORITY, -150);
  // Never re-declares the responder's sets (see kernelTrapScript), never touches its chain.
  assert.ok(!/add set inet portsentry blocked[46]/.test(text));
  assert.ok(!/prerouting (?!priority)/.test(text.replaceAll("hook prerouting", "")));
  // Flushes come before any rule: running the script twice gives the same rules.
  const firstRule = lines.findIndex((l) => l.startsWith("add rule"));
  for (const chain of ["trap", "trap_tcp", "trap_udp"]) {
    const flush = lines.indexOf(`flush chain inet portsentry ${chain}`);
    assert.ok(flush >= 0 && flush < firstRule, chain);
  }
  assert.ok(lines.includes("add element inet portsentry trap_tcp_ports { 1, 11, 143 }"));
  assert.ok(lines.includes("add element inet portsentry trap_udp_ports { 0-66, 68-136, 139-519, 521-1023 }"));
  assert.ok(
    lines.includes(
      "add rule inet portsentry trap tcp flags & (ack | rst) == 0 tcp dport @trap_tcp_ports jump trap_tcp",
    ),
  );
  assert.ok(
    lines.includes("add rule inet portsentry trap meta l4proto udp udp dport @trap_udp_ports jump trap_udp"),
  );
  assert.ok(lines.includes("add limit inet portsentry trap_limit { rate 60/minute burst 60 packets }"));
  for (const [chain, mode] of [
    ["trap_tcp", "stcp"],
    ["trap_udp", "audp"],
  ] as const) {
    const rules = chainRules(lines.join("\n"), chain);
    assert.deepEqual(rules, [
      "meta iiftype loopback return",
      // Replies and known connections are never probes; a bad checksum is left to the daemon.
      "ct state established,related return",
      chain === "trap_tcp" ? "ct state invalid tcp flags & syn == syn return" : "ct state invalid return",
      "fib daddr type != local return",
      "socket transparent { 0, 1 } return",
      // Never a scanner's, whatever the host: these never reach the blocked sets.
      "ip saddr { 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4 } return",
      "ip6 saddr { ::, ::1, ::ffff:0:0/96, ff00::/8 } return",
      "ip saddr @protect4 return",
      "ip6 saddr @protect6 return",
      "ip saddr @hosts4 return",
      "ip6 saddr @hosts6 return",
      `meta nfproto ipv4 limit name "trap_limit" add @blocked4 { ip saddr timeout 1d } log prefix "portsentry:${mode}" group 42 snaplen 256 queue-threshold 1 drop`,
      `meta nfproto ipv6 limit name "trap_limit" add @blocked6 { ip6 saddr timeout 1d } log prefix "portsentry:${mode}" group 42 snaplen 256 queue-threshold 1 drop`,
      "meta l4proto @tally_over_limit",
      // Past the block limit: reported (not blocked) at a bounded rate, with a prefix of its own.
      `limit name "trap_report_limit" log prefix "portsentry:over:${mode}" group 42 snaplen 256 queue-threshold 1`,
    ]);
  }
  assert.ok(
    lines.includes("add limit inet portsentry trap_report_limit { rate 200/second burst 200 packets }"),
  );
  assert.ok(
    lines.includes(
      "add element inet portsentry protect4 { 127.0.0.0-127.255.255.255, 198.51.100.0-198.51.100.255 }",
    ),
  );
  assert.ok(lines.includes("add element inet portsentry protect6 { ::1 }"));
  assert.ok(lines.includes("add element inet portsentry hosts4 { 192.0.2.1 }"));
  assert.ok(lines.includes("add element inet portsentry hosts6 { 2001:db8::1 }"));
});

test("script: no limit at 0, no timeout at 0 or past the kernel's range, -i interfaces, one mode", () => {
  const text = kernelTrapScript(
    trapSpec({
      maxBlocksPerMinute: 0,
      timeoutSec: 0,
      interfaces: ["eth0", "wg0"],
      modes: [{ mode: "atcp", ports: candidatePorts("atcp", trapConfig()) }],
    }),
    mergePrefixes([]),
  );
  assert.ok(!/limit name/.test(text));
  assert.ok(!/add limit .* \{ rate \d+\/minute burst \d+ packets \}\n(?!delete)/.test(text));
  assert.ok(/add @blocked4 \{ ip saddr \} log prefix "portsentry:atcp"/.test(text));
  assert.ok(/iifname != \{ "eth0", "wg0" \} return/.test(text));
  assert.ok(!/jump trap_udp/.test(text));
  assert.ok(/flush set inet portsentry trap_udp_ports/.test(text)); // emptied, not left behind
  assert.ok(!/add element inet portsentry protect/.test(text));
  const far = kernelTrapScript(trapSpec({ timeoutSec: 3650 * 86400 + 1 }), mergePrefixes([]));
  assert.ok(/add @blocked4 \{ ip saddr \} log/.test(far));
});

test("script: DETECT_ACK_SCANS lets ACK-bearing TCP without RST into the trap, never established flows", () => {
  const on = kernelTrapScript(trapSpec({ ackScans: true }), mergePrefixes([]));
  assert.ok(
    on.includes(
      "add rule inet portsentry trap tcp flags & rst == 0 tcp dport @trap_tcp_ports jump trap_tcp\n",
    ),
  );
  assert.ok(on.includes("add rule inet portsentry trap_tcp ct state established,related return\n"));
  for (const off of [trapSpec({ ackScans: false }), trapSpec()])
    assert.ok(
      kernelTrapScript(off, mergePrefixes([])).includes(
        "add rule inet portsentry trap tcp flags & (ack | rst) == 0 tcp dport @trap_tcp_ports jump trap_tcp\n",
      ),
    );
});

test("script: LISTEN_GRACE in the advanced modes only; the grace sets are never flushed", () => {
  const config = trapConfig();
  const text = kernelTrapScript(
    trapSpec({
      graceSec: 600,
      modes: [
        { mode: "stcp", ports: candidatePorts("stcp", config) },
        { mode: "audp", ports: candidatePorts("audp", config) },
      ],
    }),
    mergePrefixes([]),
  );
  const lines = text.trim().split("\n");
  assert.ok(
    lines.includes("add set inet portsentry grace_udp_ports { type inet_service; flags dynamic, timeout; }"),
  );
  assert.ok(!/flush set inet portsentry grace_/.test(text));
  assert.ok(lines.includes("add rule inet portsentry trap_tcp socket transparent { 0, 1 } return"));
  const udp = lines.filter((l) => l.startsWith("add rule inet portsentry trap_udp "));
  const socketAt = udp.indexOf(
    "add rule inet portsentry trap_udp socket transparent { 0, 1 } update @grace_udp_ports { udp dport timeout 10m } return",
  );
  assert.ok(socketAt > 0);
  assert.equal(udp[socketAt + 1], "add rule inet portsentry trap_udp udp dport @grace_udp_ports return");
  assert.ok(!/@grace_/.test(kernelTrapScript(trapSpec({ graceSec: 0 }), mergePrefixes([]))));
  assert.equal(checkSpec(trapSpec({ graceSec: -1 })).ok, false);
  assert.ok(/delete set inet portsentry grace_tcp_ports/.test(disarmScript("portsentry")));
});

test("grace script: each port in, out and in again (a fresh timeout), one transaction; nothing at 0", () => {
  assert.equal(
    graceScript("portsentry", { tcp: [22, 80], udp: [] }, 600),
    [
      "add element inet portsentry grace_tcp_ports { 22 timeout 10m, 80 timeout 10m }",
      "delete element inet portsentry grace_tcp_ports { 22, 80 }",
      "add element inet portsentry grace_tcp_ports { 22 timeout 10m, 80 timeout 10m }",
      "",
    ].join("\n"),
  );
  assert.equal(graceScript("portsentry", { tcp: [22], udp: [53] }, 0), "");
  assert.equal(graceScript("portsentry", { tcp: [], udp: [] }, 600), "");
});

test("protect and disarm scripts", () => {
  const p = replaceSetsScript(
    "portsentry",
    "protect4",
    "protect6",
    mergePrefixes(prefixes("203.0.113.53", "2001:db8::/32")),
  );
  assert.equal(
    p,
    [
      "flush set inet portsentry protect4",
      "add element inet portsentry protect4 { 203.0.113.53 }",
      "flush set inet portsentry protect6",
      "add element inet portsentry protect6 { 2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff }",
      "",
    ].join("\n"),
  );
  const d = disarmScript("portsentry");
  assert.ok(/delete chain inet portsentry trap\n/.test(d));
  assert.ok(/delete set inet portsentry protect4/.test(d));
  assert.ok(/delete set inet portsentry hosts6/.test(d));
  // Leaves the responder's sets and chain.
  assert.ok(!/blocked|prerouting (?!priority)/.test(d.replaceAll("hook prerouting", "")));
});

test("script: a planned mode with no port gets no jump", () => {
  const config = trapConfig({ udpPorts: [] });
  const plan = kernelTrapPlan(config, ["sudp"], (mode) => candidatePorts(mode, config));
  assert.ok(!/jump trap_udp/.test(kernelTrapScript(trapSpec({ modes: plan.kernel }), mergePrefixes([]))));
});

test("checkSpec refuses what could break out of the nft text", () => {
  assert.deepEqual(checkSpec(trapSpec()), { ok: true });
  assert.equal(checkSpec(trapSpec({ interfaces: ['eth0" accept; #'] })).ok, false);
  assert.equal(checkSpec(trapSpec({ table: "x y" })).ok, false);
  assert.equal(checkSpec(trapSpec({ group: 70000 })).ok, false);
  const config = trapConfig();
  const twoTcp = trapSpec({
    modes: [
      { mode: "stcp", ports: candidatePorts("stcp", config) },
      { mode: "atcp", ports: candidatePorts("atcp", config) },
    ],
  });
  assert.equal(checkSpec(twoTcp).ok, false);
});

test("host addresses become /32 and /128 prefixes", () => {
  assert.deepEqual(
    hostPrefixes(["192.0.2.1", "nonsense", "2001:db8::1"]).map((p) => p.bits),
    [32, 128],
  );
});

// ---- merging ----------------------------------------------------------------------------

test("merge: overlapping and adjacent networks become one range", () => {
  const m = mergePrefixes(
    prefixes(
      "10.0.0.0/8",
      "10.1.2.3",
      "192.0.2.0/25",
      "192.0.2.128/25",
      "192.0.2.255",
      "198.51.100.7",
      "::1",
      "::2",
    ),
  );
  assert.deepEqual(m.v4, ["10.0.0.0-10.255.255.255", "192.0.2.0-192.0.2.255", "198.51.100.7"]);
  assert.deepEqual(m.v6, ["::1-::2"]);
  assert.deepEqual(mergePrefixes(prefixes("0.0.0.0/0")).v4, ["0.0.0.0-255.255.255.255"]);
});

test("property: merged IPv4 ranges cover exactly the addresses of the prefixes", () => {
  const toNum = (text: string) => {
    const b = parseIp(text)?.bytes;
    assert.ok(b);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  };
  // Small universe (one /24) so that coverage can be checked address by address.
  const prefixArb = fc.record({
    last: fc.integer({ min: 0, max: 255 }),
    bits: fc.integer({ min: 24, max: 32 }),
  });
  fc.assert(
    fc.property(fc.array(prefixArb, { maxLength: 12 }), (list) => {
      const ps = prefixes(...list.map((p) => `192.0.2.${p.last}/${p.bits}`));
      const merged = mergePrefixes(ps).v4.map((r) => {
        const [a = "", b = a] = r.split("-");
        return [toNum(a), toNum(b)] as const;
      });
      for (let i = 1; i < merged.length; i++)
        assert.ok(merged[i]![0] > merged[i - 1]![1] + 1, "disjoint, not adjacent");
      const base = toNum("192.0.2.0");
      for (let last = 0; last < 256; last++) {
        const a = base + last;
        const expected = ps.some((p) => {
          const hostBits = 32 - p.bits;
          return last >>> hostBits === p.bytes[3]! >>> hostBits;
        });
        const covered = merged.some(([s, e]) => a >= s && a <= e);
        assert.equal(covered, expected, `192.0.2.${last}`);
      }
    }),
    { numRuns: 500 },
  );
});
