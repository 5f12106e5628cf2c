import assert from "node:assert/strict";
import { test } from "node:test";
import type { Config } from "../../../src/config/types.js";
import { kernelTrapPlanLines } from "../../../src/log/messages.js";
import { kernelTrapPlan, type TrapMode } from "../../../src/policy/kernel-trap-plan.js";
import { candidatePorts } from "../../../src/port-set.js";
import type { Mode } from "../../../src/vocabulary.js";
import { testConfig } from "../../helpers/config.js";

const trapConfig = (overrides: Partial<Config> = {}): Config =>
  testConfig("/t", { kernelTrap: true, killFirewall: "nftables", blockTimeoutSec: 86400, ...overrides });

/** The plan as the daemon asks for it (each mode's candidate ports from port-set.ts), with its lines. */
const planOf = (config: Config, modes: readonly Mode[]) => {
  const plan = kernelTrapPlan(config, modes, (mode: TrapMode) => candidatePorts(mode, config));
  return { ...plan, lines: kernelTrapPlanLines(config, plan) };
};

test("plan: stealth and advanced modes go to the kernel when it can express the config", () => {
  const plan = planOf(trapConfig(), ["stcp", "audp"]);
  assert.deepEqual(
    plan.kernel.map((k) => k.mode),
    ["stcp", "audp"],
  );
  assert.deepEqual(plan.userspace, []);
  assert.equal(plan.kernel[0]?.ports[143], 1);
  assert.equal(plan.kernel[1]?.ports[137], 0); // ADVANCED_EXCLUDE_UDP
  assert.equal(plan.kernel[1]?.ports[1023], 1);
  assert.equal(plan.kernel[1]?.ports[1024], 0);
  assert.equal(plan.lines.length, 2);
  assert.match(
    plan.lines[0] ?? "",
    /^adminalert: Kernel trap for stcp: .* 3 TCP ports .*60 new blocks a minute.*86400 s/,
  );
  assert.match(plan.lines[1] ?? "", /Kernel trap for audp: .* 1020 UDP ports/);
});

test("plan: what the kernel cannot express stays in userspace, with the reason", () => {
  const cases: [Partial<Config>, readonly ("stcp" | "sudp" | "tcp" | "atcp")[], RegExp][] = [
    [{ scanTrigger: 3 }, ["stcp"], /SCAN_TRIGGER="3".*cannot count/],
    [{ blockTcp: 0, scanTrigger: 2 }, ["atcp"], /SCAN_TRIGGER="2".*cannot count/],
    [{ blockUdp: 2 }, ["sudp"], /BLOCK_UDP="2" runs KILL_RUN_CMD only/],
    [{}, ["tcp"], /basic mode/],
    [{ kernelTrap: false }, ["stcp"], /KERNEL_TRAP is "0"/],
    [{ killFirewall: "iptables" }, ["stcp"], /KILL_FIREWALL is "iptables"/],
  ];
  for (const [overrides, modes, reason] of cases) {
    const plan = planOf(trapConfig(overrides), modes);
    assert.deepEqual(plan.kernel, [], JSON.stringify(overrides));
    assert.equal(plan.userspace.length, 1);
    assert.match(plan.userspace[0]?.reason ?? "", reason);
    assert.ok(plan.lines.length >= 1);
  }
  // Mixed: TCP blocks in the kernel, UDP only logs: the kernel observes it (#17).
  const mixed = planOf(trapConfig({ blockUdp: 0 }), ["atcp", "audp"]);
  assert.deepEqual(
    mixed.kernel.map((k) => [k.mode, k.observe === true]),
    [
      ["atcp", false],
      ["audp", true],
    ],
  );
  assert.deepEqual(mixed.userspace, []);
  assert.match(mixed.lines[0] ?? "", /^adminalert: Kernel trap for atcp: the first probe .* dropped/);
  assert.match(
    mixed.lines[1] ?? "",
    /^adminalert: Kernel trap for audp \(log only\): probes to any of 1020 UDP ports .* counted by the kernel and reported to the daemon, nothing dropped \(up to 500 new sources and 200 other probes a second/,
  );
  // SCAN_TRIGGER 0 and 1 both react on the first hit (spec §4): both in the kernel.
  for (const scanTrigger of [0, 1])
    assert.equal(planOf(trapConfig({ scanTrigger }), ["stcp"]).kernel.length, 1);
});

test("plan: a mode with no port says so", () => {
  const plan = planOf(trapConfig({ udpPorts: [] }), ["sudp"]);
  assert.deepEqual(plan.lines, ["adminalert: Kernel trap for sudp: no UDP port to watch"]);
  // Its script has no jump: test/unit/respond/kernel-trap-script.test.ts.
});

test("plan: repeat-offender growth is the daemon's to apply, and says so", () => {
  const plan = planOf(trapConfig({ blockTimeoutGrowth: 2 }), ["stcp"]);
  assert.ok(plan.lines.some((l) => /repeat offender/.test(l)));
  assert.ok(!planOf(trapConfig(), ["stcp"]).lines.some((l) => /repeat offender/.test(l)));
});

test("plan: candidate ports are asked for only for the modes the kernel runs", () => {
  const asked: TrapMode[] = [];
  const config = trapConfig({ blockUdp: 2 });
  const plan = kernelTrapPlan(config, ["tcp", "atcp", "audp"], (mode) => {
    asked.push(mode);
    return candidatePorts(mode, config);
  });
  assert.deepEqual(asked, ["atcp"]);
  assert.deepEqual(
    plan.userspace.map((u) => u.mode),
    ["tcp", "audp"],
  );
});
