import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, type PolicyOptions } from "../../../src/policy/policy.js";
import { reactionPlan } from "../../../src/policy/reaction-plan.js";
import type { Hit } from "../../../src/vocabulary.js";
import { testPolicyOptions } from "../../helpers/policy.js";

function hit(address: string, mode: Hit["mode"] = "tcp", nowMs = 0): Hit {
  return { mode, address, family: 4, port: 143, classification: "Connect", ipOptions: false, nowMs };
}
function policy(over: Partial<PolicyOptions> = {}): Policy {
  return new Policy(testPolicyOptions(over));
}

test("protected sources are not admitted", () => {
  const p = policy();
  assert.equal(p.admits("192.0.2.1"), false);
  assert.equal(p.admits("192.0.2.2"), true);
});

test("below the trigger a hit is only counted", () => {
  assert.deepEqual(policy().decide(hit("192.0.2.2"), 1, false), { kind: "counted", count: 1 });
});

test("BLOCK levels: 0 logs only, 1 blocks, 2 runs the command only; per protocol", () => {
  const p = policy({ blockTcp: 0, blockUdp: 2 });
  assert.deepEqual(p.decide(hit("192.0.2.2", "stcp"), 1, true), { kind: "log-only" });
  assert.deepEqual(p.decide(hit("192.0.2.2", "audp"), 1, true), { kind: "respond", level: 2, banSec: 0 });
  assert.deepEqual(policy().decide(hit("192.0.2.2"), 1, true), { kind: "respond", level: 1, banSec: 0 });
});

test("an already blocked host is reported once per window", () => {
  const p = policy({ isBlocked: () => true });
  assert.deepEqual(p.decide(hit("192.0.2.2", "tcp", 0), 2, true), { kind: "already-blocked", log: true });
  assert.deepEqual(p.decide(hit("192.0.2.2", "tcp", 1000), 3, true), { kind: "already-blocked", log: false });
  assert.deepEqual(p.decide(hit("192.0.2.2", "tcp", 61_000), 4, true), {
    kind: "already-blocked",
    log: true,
  });
});

test("the block rate limit holds back a forged sweep until the minute is over", () => {
  const p = policy({ maxBlocksPerMinute: 10 });
  let responded = 0;
  for (let i = 0; i < 10_000; i++) {
    if (p.decide(hit(`198.51.100.${i % 250}:${i}`, "stcp", 0), 1, true).kind === "respond") responded++;
  }
  assert.equal(responded, 10);
  assert.equal(p.heldBack, 9_990);
  assert.equal(
    p.decide(hit("203.0.113.5", "stcp", 59_999), 1, true).kind,
    "held-back",
    "still the same minute",
  );
  assert.equal(p.decide(hit("203.0.113.6", "stcp", 60_000), 1, true).kind, "respond", "a minute later");
});

test("one budget: kernel blocks take from it and are held back past it; no 60 s window holds more", () => {
  const max = 20;
  const p = policy({ maxBlocksPerMinute: max });
  const blockTimes: number[] = [];
  // 65 s of new sources, ten a second, every other one reported by the kernel trap.
  for (let i = 0; i < 650; i++) {
    const h = { ...hit(`198.51.100.${i % 250}`, "stcp", i * 100), kernelBlocked: i % 2 === 0 };
    if (p.decide(h, 1, true).kind === "respond") blockTimes.push(h.nowMs);
  }
  let worst = 0;
  for (const [i, t] of blockTimes.entries()) {
    worst = Math.max(worst, blockTimes.slice(i).filter((u) => u - t < 60_000).length);
  }
  assert.equal(worst, max, `at most ${max} blocks in any 60 s: ${blockTimes.join(" ")}`);
  assert.equal(blockTimes.length, 2 * max, "the window slides: the second minute has its own");
  assert.deepEqual(p.decide({ ...hit("203.0.113.7", "stcp", 64_000), kernelBlocked: true }, 1, true), {
    kind: "held-back",
    log: true,
  });
});

test("a gateway or name server reaching the trigger is never blocked, reported once per window", () => {
  const p = policy();
  assert.deepEqual(p.decide(hit("192.0.2.254", "stcp", 0), 1, true), {
    kind: "protected",
    reason: "it is a default gateway",
    log: true,
  });
  assert.deepEqual(p.decide(hit("192.0.2.254", "stcp", 10), 2, true), {
    kind: "protected",
    reason: "it is a default gateway",
    log: false,
  });
});

test("broadcast, multicast, unspecified, loopback and IPv4-mapped sources are never blocked", () => {
  const p = policy({ isIgnored: () => false, maxBlocksPerMinute: 0 });
  const v4 = ["255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0", "127.0.0.1", "240.0.0.1"];
  const v6 = ["::", "::1", "ff02::1", "ff05::1:3", "::ffff:198.51.100.7"];
  for (const [address, family] of [
    ...v4.map((a) => [a, 4] as const),
    ...v6.map((a) => [a, 6] as const),
    // An IPv4 address from an IPv6 packet: its source was IPv4-mapped (formatSourceIp).
    ["198.51.100.7", 6] as const,
  ]) {
    const d = p.decide({ ...hit(address, "stcp"), family }, 1, true);
    assert.equal(d.kind, "protected", `${address} (IPv${family})`);
    // A kernel block of one is lifted, not recorded.
    assert.equal(
      p.decide({ ...hit(address, "stcp"), family, kernelBlocked: true }, 1, false).kind,
      "protected",
    );
  }
  // Ordinary unicast sources of both families still are.
  assert.equal(p.decide(hit("198.51.100.7", "stcp"), 1, true).kind, "respond");
  assert.equal(p.decide({ ...hit("2001:db8::7", "stcp"), family: 6 }, 1, true).kind, "respond");
  assert.equal(p.decide({ ...hit("fe80::7", "stcp"), family: 6 }, 1, true).kind, "respond");
});

test("the decision carries the ban length, grown for a repeat offender (its count is an input)", () => {
  const offences = new Map([["192.0.2.7", 2]]);
  const p = policy({
    priorOffences: (a) => offences.get(a) ?? 0,
    banDuration: { baseSec: 3600, growth: 2, maxSec: 4 * 3600 },
  });
  assert.deepEqual(p.decide(hit("192.0.2.6"), 1, true), { kind: "respond", level: 1, banSec: 3600 });
  assert.deepEqual(p.decide(hit("192.0.2.7"), 1, true), { kind: "respond", level: 1, banSec: 4 * 3600 });
  offences.set("192.0.2.7", 5);
  assert.equal(p.banSecondsFor("192.0.2.7"), 4 * 3600, "capped at BLOCK_TIMEOUT_MAX");
});

test("the reaction plan: 1.2's order, the command first or last, the command alone at level 2", () => {
  const all = { command: true, commandFirst: false, hostsDeny: true, firewall: true, route: true };
  assert.deepEqual(reactionPlan(all, 1), ["hosts.deny", "firewall", "route", "command"]);
  assert.deepEqual(reactionPlan({ ...all, commandFirst: true }, 1), [
    "command",
    "hosts.deny",
    "firewall",
    "route",
  ]);
  assert.deepEqual(reactionPlan(all, 2), ["command"]);
  assert.deepEqual(reactionPlan({ ...all, command: false, route: false }, 1), ["hosts.deny", "firewall"]);
  assert.deepEqual(reactionPlan({ ...all, command: false }, 2), []);
});
