import assert from "node:assert/strict";
import { test } from "node:test";
import { againPrefix, overLimitPrefix, trapOfPrefix, trapPrefix } from "../../../src/kernel-trap-names.js";
import {
  checkSpec,
  disarmScript,
  hostPrefixes,
  type KernelTrapSpec,
  kernelTrapScript,
  mergePrefixes,
  probationRules,
  TRAP_PRIORITY,
} from "../../../src/respond/kernel-trap-script.js";
import {
  NFT_PRIORITY,
  nftSetupLine,
  PROBATION_PRIORITY,
  PROBATION_SET_SIZE,
} from "../../../src/respond/nftables.js";
import { chainRules, trapLog, trapSpec } from "../../helpers/kernel-trap-spec.js";

const spec = (overrides: Partial<KernelTrapSpec> = {}): KernelTrapSpec =>
  trapSpec({ probationSec: 600, probationReportsPerSec: 500, ...overrides });

const protect = mergePrefixes(hostPrefixes(["127.0.0.1", "::1"]));
const hosts = mergePrefixes(hostPrefixes(["192.0.2.1", "2001:db8::1"]));

/**
 * The limit `name` as the script leaves it: the last `add limit` after the last `delete limit`
 * (a limit is first created with a dummy rate and deleted, so that the delete cannot fail).
 */
function declaredLimit(text: string, name: string): string | undefined {
  let out: string | undefined;
  for (const l of text.trim().split("\n")) {
    if (l === `delete limit inet portsentry ${name}`) out = undefined;
    else if (l.startsWith(`add limit inet portsentry ${name} `))
      out = l.slice(`add limit inet portsentry ${name} `.length);
  }
  return out;
}

test("probation script: first probes go to the probation sets for 10m, never to the blocked sets", () => {
  const text = kernelTrapScript(spec(), protect, hosts);
  assert.doesNotMatch(text, /add @blocked[46]/);
  assert.doesNotMatch(text, /@blocked/);
  for (const [chain, mode] of [
    ["trap_tcp", "stcp"],
    ["trap_udp", "audp"],
  ] as const) {
    const rules = chainRules(text, chain);
    assert.ok(
      rules.includes(
        `meta nfproto ipv4 add @probation4 { ip saddr timeout 10m } meta l4proto @tally_probations limit name "trap_limit" ${trapLog(trapPrefix(mode))} drop`,
      ),
      rules.join("\n"),
    );
    assert.ok(
      rules.includes(
        `meta nfproto ipv6 add @probation6 { ip6 saddr timeout 10m } meta l4proto @tally_probations limit name "trap_limit" ${trapLog(trapPrefix(mode))} drop`,
      ),
    );
    // A probe of a source on probation: a repeat, reported with its own prefix, and dropped.
    assert.ok(
      rules.includes(
        `ip saddr @probation4 meta l4proto @tally_repeats limit name "trap_report_limit" ${trapLog(againPrefix(mode))} drop`,
      ),
    );
    assert.ok(
      rules.includes(
        `ip6 saddr @probation6 meta l4proto @tally_repeats limit name "trap_report_limit" ${trapLog(againPrefix(mode))} drop`,
      ),
    );
    // Past the report limit, dropped all the same (after the add too: a new probation past it).
    const add4 = rules.findIndex((r) => r.startsWith("meta nfproto ipv4 add @probation4"));
    assert.equal(rules[add4 + 1], "ip saddr @probation4 drop");
    const again4 = rules.findIndex((r) =>
      r.startsWith("ip saddr @probation4 meta l4proto @tally_repeats limit"),
    );
    assert.equal(rules[again4 + 1], "ip saddr @probation4 drop");
    // Past everything (a full probation set): counted, reported over the limit, and dropped
    // unbanned (a trap port has no answer anyone needs).
    assert.equal(rules.at(-3), "meta l4proto @tally_over_limit");
    assert.equal(rules.at(-2), `limit name "trap_report_limit" ${trapLog(overLimitPrefix(mode))}`);
    assert.equal(rules.at(-1), "drop");
  }
});

test("probation script: the repeat rule comes before the add, both after every return", () => {
  const text = kernelTrapScript(spec(), protect, hosts);
  for (const [chain, mode] of [
    ["trap_tcp", "stcp"],
    ["trap_udp", "audp"],
  ] as const) {
    const rules = chainRules(text, chain);
    const lastReturn = rules.findLastIndex((r) => r.endsWith(" return"));
    const protect4 = rules.indexOf("ip saddr @protect4 return");
    const hosts6 = rules.indexOf("ip6 saddr @hosts6 return");
    assert.ok(protect4 >= 0 && hosts6 >= 0);
    assert.equal(lastReturn, hosts6, "the never-trapped returns are the last returns");
    for (const [fam, addr, set] of [
      ["ipv4", "ip", "probation4"],
      ["ipv6", "ip6", "probation6"],
    ] as const) {
      const again = rules.findIndex(
        (r) => r.startsWith(`${addr} saddr @${set} `) && r.includes(againPrefix(mode)),
      );
      const add = rules.findIndex((r) => r.startsWith(`meta nfproto ${fam} add @${set} `));
      assert.ok(again > hosts6 && again > protect4, `${chain} ${fam}: repeat after the returns`);
      assert.ok(add > again, `${chain} ${fam}: repeat (${again}) before add (${add})`);
    }
  }
});

test("probation script: the trap limit is on reports of new probations, 500 a second; the tally is declared", () => {
  const lines = kernelTrapScript(spec(), protect, hosts).trim().split("\n");
  const text = lines.join("\n");
  assert.equal(declaredLimit(text, "trap_limit"), "{ rate 500/second burst 500 packets }");
  assert.equal(declaredLimit(text, "trap_report_limit"), "{ rate 200/second burst 200 packets }");
  // Not the classic per-minute block limit of MAX_BLOCKS_PER_MINUTE (60).
  assert.ok(!lines.includes("add limit inet portsentry trap_limit { rate 60/minute burst 60 packets }"));
  const counter = lines.indexOf("add set inet portsentry tally_probations { type inet_proto; counter; }");
  assert.ok(counter >= 0);
  assert.equal(lines[counter + 1], "add element inet portsentry tally_probations { tcp, udp }");
  const firstRule = lines.findIndex((l) => l.startsWith("add rule"));
  assert.ok(counter < firstRule, "declared before a rule names it");
  // The named counter of earlier versions goes (nothing refers to it once the chains are empty).
  const legacy = lines.indexOf("delete counter inet portsentry trap_probations");
  assert.ok(legacy > lines.indexOf("flush chain inet portsentry trap_tcp") && legacy < firstRule);
  // Every limit a rule names is declared in the same script.
  for (const m of text.matchAll(/limit name "([a-z_]+)"/g)) {
    assert.ok(declaredLimit(text, m[1] as string) !== undefined, m[1]);
  }
});

test("probation script: no report rate means no limit on the probation rule (and none declared)", () => {
  const text = kernelTrapScript(spec({ probationReportsPerSec: 0 }), protect, hosts);
  assert.equal(declaredLimit(text, "trap_limit"), undefined);
  assert.doesNotMatch(text, /limit name "trap_limit"/);
  assert.match(
    text,
    /add rule inet portsentry trap_tcp meta nfproto ipv4 add @probation4 \{ ip saddr timeout 10m \} meta l4proto @tally_probations log prefix "portsentry:stcp"/,
  );
});

test("probation script: a spec without over-limit reports is refused (the repeats go through them)", () => {
  const s = spec({ overLimitReportsPerSec: 0 });
  const check = checkSpec(s);
  assert.equal(check.ok, false);
  assert.match((check as { error: string }).error, /over-limit reports/);
  // With reports, every limit a rule names is declared.
  const text = kernelTrapScript(spec({}), protect, hosts);
  for (const m of text.matchAll(/limit name "([a-z_]+)"/g)) {
    assert.ok(declaredLimit(text, m[1] as string) !== undefined, `${m[1]} is named, not declared`);
  }
});

test("probation script: 0 (or absent) is the classic script, blocked sets and a per-minute limit", () => {
  for (const over of [{ probationSec: 0 }, { probationSec: undefined, probationReportsPerSec: undefined }]) {
    const text = kernelTrapScript(spec(over), protect, hosts);
    assert.doesNotMatch(text, /@probation[46]/);
    assert.doesNotMatch(text, /portsentry:again:/);
    assert.equal(declaredLimit(text, "trap_limit"), "{ rate 60/minute burst 60 packets }");
    assert.ok(
      chainRules(text, "trap_tcp").includes(
        `meta nfproto ipv4 limit name "trap_limit" add @blocked4 { ip saddr timeout 1d } ${trapLog("portsentry:stcp")} drop`,
      ),
    );
    assert.ok(
      chainRules(text, "trap_udp").includes(
        `meta nfproto ipv6 limit name "trap_limit" add @blocked6 { ip6 saddr timeout 1d } ${trapLog("portsentry:audp")} drop`,
      ),
    );
    // Past the block limit the probe goes on (the daemon judges it): no final drop.
    assert.notEqual(chainRules(text, "trap_tcp").at(-1), "drop");
  }
});

test("probationRules: per family, repeat report, repeat drop, add, drop; the duration in nft text", () => {
  const rules = probationRules("atcp", 3600 + 61, "", (p) => `log prefix "${p}"`);
  assert.deepEqual(rules, [
    'ip saddr @probation4 meta l4proto @tally_repeats limit name "trap_report_limit" log prefix "portsentry:again:atcp" drop',
    "ip saddr @probation4 drop",
    'meta nfproto ipv4 add @probation4 { ip saddr timeout 1h1m1s } meta l4proto @tally_probations log prefix "portsentry:atcp" drop',
    "ip saddr @probation4 drop",
    'ip6 saddr @probation6 meta l4proto @tally_repeats limit name "trap_report_limit" log prefix "portsentry:again:atcp" drop',
    "ip6 saddr @probation6 drop",
    'meta nfproto ipv6 add @probation6 { ip6 saddr timeout 1h1m1s } meta l4proto @tally_probations log prefix "portsentry:atcp" drop',
    "ip6 saddr @probation6 drop",
  ]);
});

test("the repeat prefix reads back as a repeat of its mode", () => {
  for (const mode of ["stcp", "atcp", "sudp", "audp"] as const) {
    assert.deepEqual(trapOfPrefix(againPrefix(mode)), { mode, report: "again" });
    assert.deepEqual(trapOfPrefix(trapPrefix(mode)), { mode, report: "trapped" });
  }
  assert.equal(againPrefix("sudp"), "portsentry:again:sudp");
  assert.equal(trapOfPrefix("portsentry:again:tcp"), undefined);
});

test("checkSpec: the probation time within the kernel's range, whole seconds; report rate whole", () => {
  assert.deepEqual(checkSpec(spec()), { ok: true });
  for (const probationSec of [-1, 1.5, 3650 * 86400 + 1])
    assert.equal(checkSpec(spec({ probationSec })).ok, false);
  for (const probationReportsPerSec of [-1, 0.5])
    assert.equal(checkSpec(spec({ probationReportsPerSec })).ok, false);
});

test("disarm deletes the tally sets and the earlier versions' counters (each created first so that the delete cannot fail), not the probation sets", () => {
  const lines = disarmScript("portsentry").trim().split("\n");
  for (const [add, del] of [
    [
      "add set inet portsentry tally_probations { type inet_proto; counter; }",
      "delete set inet portsentry tally_probations",
    ],
    ["add counter inet portsentry trap_probations", "delete counter inet portsentry trap_probations"],
    ["add counter inet portsentry trap_over_limit", "delete counter inet portsentry trap_over_limit"],
  ]) {
    const a = lines.indexOf(add as string);
    assert.ok(a >= 0 && lines.indexOf(del as string) > a, add);
  }
  // The probation sets and chain are the responder's: disarming the trap leaves them.
  assert.ok(!lines.some((l) => /probation[46]|chain inet portsentry probation\b/.test(l)));
});

test("nftSetupLine: probation sets dynamic with timeouts, their chain at -140 after the trap", () => {
  const line = nftSetupLine("portsentry", 65536);
  assert.ok(!line.includes("\n"));
  const has = (part: string) => assert.ok(line.includes(part), part);
  has(
    `add set inet portsentry probation4 { type ipv4_addr; flags dynamic, timeout; size ${PROBATION_SET_SIZE}; }`,
  );
  has(
    `add set inet portsentry probation6 { type ipv6_addr; flags dynamic, timeout; size ${PROBATION_SET_SIZE}; }`,
  );
  has("add chain inet portsentry probation { type filter hook prerouting priority -140; policy accept; }");
  assert.equal(PROBATION_PRIORITY, -140);
  assert.ok(TRAP_PRIORITY < PROBATION_PRIORITY, "the trap sees a probationer's next probe first");
  assert.ok(NFT_PRIORITY < TRAP_PRIORITY, "a long ban drops before the trap");
  // Flushed and refilled: a restart never duplicates the rules.
  assert.ok(
    line.endsWith(
      "; flush chain inet portsentry probation" +
        "; add rule inet portsentry probation ip saddr @probation4 counter drop" +
        "; add rule inet portsentry probation ip6 saddr @probation6 counter drop",
    ),
    line,
  );
  // The sets exist before the chain's rules name them.
  assert.ok(line.indexOf("add set inet portsentry probation4") < line.indexOf("@probation4"));
  // The blocked sets keep their own size.
  has("add set inet portsentry blocked4 { type ipv4_addr; flags timeout; size 65536; }");
});
