import assert from "node:assert/strict";
import { test } from "node:test";
import { seenPrefix, trapOfPrefix } from "../../../src/kernel-trap-names.js";
import {
  checkSpec,
  disarmScript,
  hostPrefixes,
  type KernelTrapSpec,
  kernelTrapScript,
  mergePrefixes,
  observeRules,
  SEEN_SET_SIZE,
} from "../../../src/respond/kernel-trap-script.js";
import { chainRules, trapLog, trapSpec } from "../../helpers/kernel-trap-spec.js";

/** -stcp log only (observed), -audp blocking: the mixed case. */
const spec = (overrides: Partial<KernelTrapSpec> = {}): KernelTrapSpec => {
  const base = trapSpec();
  return {
    ...base,
    modes: base.modes.map((m) => (m.mode === "stcp" ? { ...m, observe: true } : m)),
    seenReportsPerSec: 500,
    seenSec: 60,
    ...overrides,
  };
};

const protect = mergePrefixes(hostPrefixes(["127.0.0.1", "::1"]));

test("observe: a log-only mode counts every probe and drops nothing; the other mode still traps", () => {
  const text = kernelTrapScript(spec(), protect);
  const tcp = chainRules(text, "trap_tcp");
  const counted = tcp.indexOf("meta l4proto @tally_probes");
  // Counted after every check that makes a packet no probe (flows, sockets), before the
  // sources never reported (as the daemon's own path counts their hits).
  assert.ok(counted > tcp.indexOf("socket transparent { 0, 1 } return") && counted > 0);
  assert.equal(tcp[counted + 1], "ip saddr { 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4 } return");
  const judged = tcp.indexOf("ip6 saddr @hosts6 return") + 1;
  assert.deepEqual(tcp.slice(judged), observeRules("stcp", 60, trapLog));
  for (const r of tcp) assert.doesNotMatch(r, /\bdrop\b|@blocked|@probation/, r);
  assert.equal(tcp.at(-1), `limit name "trap_report_limit" ${trapLog("portsentry:seen:stcp")}`);
  // -audp blocks in the kernel as before.
  const udp = chainRules(text, "trap_udp");
  assert.ok(udp.some((r) => /add @blocked4 \{ ip saddr timeout 1d \} .*portsentry:audp.* drop$/.test(r)));
  assert.ok(!udp.some((r) => r.includes("tally_probes") || r.includes("@seen")));
});

test("observe: new sources through their own bucket, a seen source's next probes through the shared one", () => {
  const rules = observeRules("atcp", 60, trapLog);
  const seen = trapLog("portsentry:seen:atcp");
  assert.deepEqual(rules, [
    `ip saddr @seen4 limit name "trap_report_limit" ${seen} return`,
    "ip saddr @seen4 return",
    `meta nfproto ipv4 add @seen4 { ip saddr timeout 1m } limit name "trap_seen_limit" ${seen} return`,
    "ip saddr @seen4 return",
    `ip6 saddr @seen6 limit name "trap_report_limit" ${seen} return`,
    "ip6 saddr @seen6 return",
    `meta nfproto ipv6 add @seen6 { ip6 saddr timeout 1m } limit name "trap_seen_limit" ${seen} return`,
    "ip6 saddr @seen6 return",
    `limit name "trap_report_limit" ${seen}`,
  ]);
});

test("observe: limits and sets are declared; the trap's removal takes them away", () => {
  const text = kernelTrapScript(spec(), protect);
  const lines = text.trim().split("\n");
  assert.ok(
    lines.includes("add limit inet portsentry trap_seen_limit { rate 500/second burst 500 packets }"),
  );
  assert.ok(
    lines.includes("add limit inet portsentry trap_report_limit { rate 200/second burst 200 packets }"),
  );
  assert.ok(lines.includes("add set inet portsentry tally_probes { type inet_proto; counter; }"));
  assert.ok(lines.includes("add element inet portsentry tally_probes { tcp, udp }"));
  for (const [set, type] of [
    ["seen4", "ipv4_addr"],
    ["seen6", "ipv6_addr"],
  ])
    assert.ok(
      lines.includes(
        `add set inet portsentry ${set} { type ${type}; size ${SEEN_SET_SIZE}; flags dynamic, timeout; }`,
      ),
    );
  // Without a log-only mode there is no seen limit (the sets are declared, unused).
  assert.doesNotMatch(
    kernelTrapScript(trapSpec(), protect),
    /add limit inet portsentry trap_seen_limit \{ rate \d+\/second/,
  );
  const disarm = disarmScript("portsentry").trim().split("\n");
  for (const thing of [
    "set inet portsentry seen4",
    "set inet portsentry seen6",
    "set inet portsentry tally_probes",
    "limit inet portsentry trap_seen_limit",
  ])
    assert.ok(disarm.includes(`delete ${thing}`), thing);
});

test("observe: with probation on, only the blocking mode puts sources on probation", () => {
  const text = kernelTrapScript(spec({ probationSec: 600, probationReportsPerSec: 500 }), protect);
  const tcp = chainRules(text, "trap_tcp");
  for (const r of tcp) assert.doesNotMatch(r, /\bdrop\b|@probation/, r);
  assert.ok(chainRules(text, "trap_udp").some((r) => r.includes("add @probation4")));
});

test("observe: the spec needs both report rates and a seen timeout", () => {
  assert.deepEqual(checkSpec(spec()), { ok: true });
  for (const [overrides, error] of [
    [{ seenReportsPerSec: 0 }, /seen report rate/],
    [{ seenSec: 0 }, /seen timeout/],
    [{ seenSec: 1.5 }, /seen timeout/],
    [{ overLimitReportsPerSec: 0 }, /needs over-limit reports/],
  ] as const) {
    const r = checkSpec(spec(overrides));
    assert.equal(r.ok, false, JSON.stringify(overrides));
    if (!r.ok) assert.match(r.error, error);
  }
  // Not asked of a spec without a log-only mode.
  assert.deepEqual(checkSpec(trapSpec()), { ok: true });
});

test("observe: a seen report names its mode and is neither a block nor a repeat offence", () => {
  assert.equal(seenPrefix("audp"), "portsentry:seen:audp");
  assert.deepEqual(trapOfPrefix("portsentry:seen:audp"), { mode: "audp", report: "seen" });
  assert.equal(trapOfPrefix("portsentry:seen:tcp"), undefined);
});
