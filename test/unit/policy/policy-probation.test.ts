import assert from "node:assert/strict";
import { test } from "node:test";
import { TriggerTable } from "../../../src/detect/trigger.js";
import * as msg from "../../../src/log/messages.js";
import { type BlockClaims, Pipeline, type Reactions } from "../../../src/pipeline.js";
import { type Decision, Policy, type PolicyOptions } from "../../../src/policy/policy.js";
import type { BlockRecord, Hit } from "../../../src/vocabulary.js";
import { MemoryLog } from "../../helpers/memory-log.js";
import { testPolicyOptions } from "../../helpers/policy.js";

const PROBATION_SEC = 600;
const LONG_SEC = 86_400;

function hit(address: string, nowMs = 0, mode: Hit["mode"] = "stcp", extra: Partial<Hit> = {}): Hit {
  return {
    mode,
    address,
    family: address.includes(":") ? 6 : 4,
    port: 143,
    classification: mode === "tcp" || mode === "udp" ? "Connect" : "TCP SYN/Normal scan",
    ipOptions: false,
    nowMs,
    ...extra,
  };
}

function policy(over: Partial<PolicyOptions> = {}): Policy {
  return new Policy(
    testPolicyOptions({
      banDuration: { baseSec: LONG_SEC, growth: 1, maxSec: 0 },
      probationSec: PROBATION_SEC,
      probationCapacity: 1000,
      probationMemoryMs: 86_400_000,
      ...over,
    }),
  );
}

/** What the pipeline does with a "probation" decision (Pipeline #probation), on the table only. */
function putOn(p: Policy, h: Hit, d: Decision): void {
  assert.equal(d.kind, "probation");
  if (d.kind === "probation") p.probation.start(h, d.banSec * 1000, 0, false);
}

// ---- Policy.decide ------------------------------------------------------------------------

test("probation: an unknown source's first stealth probe is put on probation, not banned", () => {
  const p = policy();
  for (const [i, mode] of (["stcp", "atcp", "sudp", "audp", "udp"] as const).entries()) {
    assert.deepEqual(
      p.decide(hit(`198.51.100.${i + 1}`, 0, mode), 1, true),
      { kind: "probation", banSec: PROBATION_SEC, pastBudget: false },
      mode,
    );
  }
  assert.deepEqual(p.decide(hit("2001:db8::7"), 1, true), {
    kind: "probation",
    banSec: PROBATION_SEC,
    pastBudget: false,
  });
  assert.equal(p.heldBack, 0);
});

test("probation: the same source's next probe, on probation, gets the long ban", () => {
  const p = policy();
  const first = hit("198.51.100.7", 1000);
  putOn(p, first, p.decide(first, 1, true));
  assert.equal(p.probation.isOn("198.51.100.7", 2000), true);
  assert.deepEqual(p.decide(hit("198.51.100.7", 2000), 1, true), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
});

test("probation: a repeat after the probation ended, while remembered, still gets the long ban", () => {
  const p = policy({ probationMemoryMs: 3_600_000 });
  const first = hit("198.51.100.7", 0);
  putOn(p, first, p.decide(first, 1, true));
  const later = PROBATION_SEC * 1000 + 60_000;
  assert.equal(p.probation.isOn("198.51.100.7", later), false);
  assert.deepEqual(p.decide(hit("198.51.100.7", later), 1, true), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
  // Past the memory it is a first probe again.
  const q = policy({ probationMemoryMs: 3_600_000 });
  putOn(q, first, q.decide(first, 1, true));
  assert.equal(q.decide(hit("198.51.100.7", 3_600_000), 1, true).kind, "probation");
});

test("probation: a kernel repeat report, a second hit in the trigger window, a full connect: the long ban at once", () => {
  const p = policy();
  assert.deepEqual(p.decide(hit("198.51.100.8", 0, "stcp", { probationRepeat: true }), 1, true), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
  assert.deepEqual(p.decide(hit("198.51.100.9"), 2, true), { kind: "respond", level: 1, banSec: LONG_SEC });
  // Basic TCP mode: a completed handshake, so the source is not forged.
  assert.deepEqual(p.decide(hit("198.51.100.10", 0, "tcp"), 1, true), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
  assert.equal(p.probation.started, 0, "decide itself puts nobody on probation");
});

test("probation: BLOCK level 2 is the classic command-only response, level 0 only logs", () => {
  const p = policy({ blockTcp: 2, blockUdp: 0 });
  assert.deepEqual(p.decide(hit("198.51.100.11", 0, "stcp"), 1, true), {
    kind: "respond",
    level: 2,
    banSec: LONG_SEC,
  });
  assert.deepEqual(p.decide(hit("198.51.100.12", 0, "sudp"), 1, true), { kind: "log-only" });
  // A kernel block is level 1 whatever BLOCK_TCP says: put on probation.
  assert.equal(p.decide(hit("198.51.100.13", 0, "stcp", { kernelBlocked: true }), 1, true).kind, "probation");
});

test("probation: below the trigger, protected, ignored-or-blocked sources are decided as before", () => {
  const p = policy({ isBlocked: (a) => a === "198.51.100.14" });
  assert.deepEqual(p.decide(hit("198.51.100.15"), 1, false), { kind: "counted", count: 1 });
  assert.equal(p.decide(hit("192.0.2.254"), 1, true).kind, "protected");
  assert.equal(p.decide(hit("198.51.100.14"), 1, true).kind, "already-blocked");
});

test("probation past the budget: a repeat not on probation goes (back) on it; one on probation is held back", () => {
  const p = policy({ maxBlocksPerMinute: 2 });
  const onFirst = hit("198.51.100.20", 0);
  putOn(p, onFirst, p.decide(onFirst, 1, true));
  // Two repeats spend the budget.
  assert.equal(p.decide(hit("198.51.100.21", 100), 2, true).kind, "respond");
  assert.equal(p.decide(hit("198.51.100.22", 200), 2, true).kind, "respond");
  // A repeat offender not on probation: probation, marked past the budget.
  assert.deepEqual(p.decide(hit("198.51.100.23", 300), 2, true), {
    kind: "probation",
    banSec: PROBATION_SEC,
    pastBudget: true,
  });
  assert.deepEqual(p.decide(hit("198.51.100.24", 300, "stcp", { probationRepeat: true }), 1, true), {
    kind: "probation",
    banSec: PROBATION_SEC,
    pastBudget: true,
  });
  // On probation already: nothing new to do.
  assert.deepEqual(p.decide(hit("198.51.100.20", 400), 1, true), { kind: "held-back", log: true });
  assert.deepEqual(p.decide(hit("198.51.100.20", 500), 1, true), { kind: "held-back", log: false });
  // A first probe still goes on probation, not past the budget.
  assert.deepEqual(p.decide(hit("198.51.100.25", 600), 1, true), {
    kind: "probation",
    banSec: PROBATION_SEC,
    pastBudget: false,
  });
  // A minute later the budget is back.
  assert.equal(p.decide(hit("198.51.100.20", 61_000), 1, true).kind, "respond");
});

test("probation: first probes are not charged to the budget", () => {
  const p = policy({ maxBlocksPerMinute: 60 });
  for (let i = 0; i < 70; i++) {
    const h = hit(`198.51.100.${i}`, i);
    putOn(p, h, p.decide(h, 1, true));
  }
  assert.equal(p.probation.started, 70);
  // A fresh source's repeat (second hit) still finds the whole budget.
  assert.deepEqual(p.decide(hit("203.0.113.1", 100), 2, true), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
  // And so do the probationers' repeats, 59 more of them.
  let responded = 0;
  for (let i = 0; i < 70; i++)
    if (p.decide(hit(`198.51.100.${i}`, 200 + i), 1, true).kind === "respond") responded++;
  assert.equal(responded, 59);
  assert.equal(p.heldBack, 11);
});

test("PROBATION_TIMEOUT 0: the classic behaviour (first hit banned; past the budget held back)", () => {
  for (const probationSec of [0, undefined]) {
    const p = policy({ probationSec, maxBlocksPerMinute: 2 });
    assert.deepEqual(p.decide(hit("198.51.100.1", 0), 1, true), {
      kind: "respond",
      level: 1,
      banSec: LONG_SEC,
    });
    assert.deepEqual(p.decide(hit("198.51.100.2", 1), 1, true), {
      kind: "respond",
      level: 1,
      banSec: LONG_SEC,
    });
    assert.deepEqual(p.decide(hit("198.51.100.3", 2), 1, true), { kind: "held-back", log: true });
    assert.deepEqual(p.decide(hit("198.51.100.4", 3, "stcp", { probationRepeat: true }), 2, true), {
      kind: "held-back",
      log: true,
    });
    assert.equal(p.heldBack, 2);
  }
});

// ---- Through the Pipeline ---------------------------------------------------------------

interface Fake {
  readonly pipeline: Pipeline;
  readonly policy: Policy;
  readonly log: MemoryLog;
  readonly responded: { record: BlockRecord; origin: string }[];
  readonly probations: { hit: Hit; banSec: number }[];
  readonly kernelBlocks: { hit: Hit; decision: Decision }[];
  readonly blocked: Set<string>;
}

function pipeline(over: Partial<PolicyOptions> = {}, liftedByDaemon = false): Fake {
  const log = new MemoryLog();
  const blocked = new Set<string>();
  const responded: Fake["responded"] = [];
  const probations: Fake["probations"] = [];
  const kernelBlocks: Fake["kernelBlocks"] = [];
  const registry: BlockClaims = {
    full: false,
    claim: (r) => {
      if (blocked.has(r.address)) return false;
      blocked.add(r.address);
      return true;
    },
  };
  const reactor: Reactions = {
    respond: async (record, _name, origin) => {
      responded.push({ record, origin });
    },
    probation: async (h, banSec) => {
      probations.push({ hit: h, banSec });
    },
    probationLiftedByDaemon: liftedByDaemon,
  };
  const p = policy({ isBlocked: (a) => blocked.has(a), ...over });
  const pl = new Pipeline({
    log,
    trigger: new TriggerTable({ scanTrigger: 0, maxSources: 100, windowMs: 60_000 }),
    policy: p,
    registry,
    reactor,
    recordOffence: () => {},
    maxBlocksPerMinute: 60,
    wallClockMs: () => 1_700_000_000_000,
    onKernelBlock: (h, decision) => kernelBlocks.push({ hit: h, decision }),
  });
  return { pipeline: pl, policy: p, log, responded, probations, kernelBlocks, blocked };
}

test("pipeline: a probation decision calls reactor.probation once, never respond, and logs the line", async () => {
  const f = pipeline();
  const h = hit("198.51.100.30", 1000);
  assert.deepEqual(f.pipeline.onHit(h), { kind: "probation", banSec: PROBATION_SEC, pastBudget: false });
  await f.pipeline.settle();
  assert.deepEqual(f.probations, [{ hit: h, banSec: PROBATION_SEC }]);
  assert.deepEqual(f.responded, []);
  assert.deepEqual(f.kernelBlocks, []);
  assert.equal(f.policy.probation.started, 1);
  assert.equal(f.pipeline.counters.detections, 0);
  assert.equal(f.policy.probation.isOn("198.51.100.30", 1000), true);
  assert.equal(
    f.policy.probation.get("198.51.100.30", 1000)?.liftByDaemon,
    false,
    "the firewall's timeout lifts it",
  );
  assert.equal(f.policy.probation.get("198.51.100.30", 1000)?.sinceWallMs, 1_700_000_000_000);
  const line = msg.probation("198.51.100.30", PROBATION_SEC, false);
  assert.ok(f.log.messages().includes(line), f.log.messages().join("\n"));
  assert.match(line, /198\.51\.100\.30 is on probation \(first probe\): dropped for 600 s/);
  assert.equal(f.blocked.size, 0, "no block record");
});

test("pipeline: with a firewall without timeouts the daemon lifts the probation", async () => {
  const f = pipeline({}, true);
  f.pipeline.onHit(hit("198.51.100.31", 1000));
  await f.pipeline.settle();
  assert.equal(f.probations.length, 1);
  assert.equal(f.policy.probation.nextLiftMs(), 1000 + PROBATION_SEC * 1000);
  assert.deepEqual(f.policy.probation.takeEnded(1000 + PROBATION_SEC * 1000), ["198.51.100.31"]);
});

test("pipeline: a kernel-trapped first probe goes on probation without reactor.probation or respond", async () => {
  const f = pipeline({}, true);
  const h = hit("198.51.100.32", 1000, "stcp", { kernelBlocked: true });
  const d = f.pipeline.onHit(h);
  assert.deepEqual(d, { kind: "probation", banSec: PROBATION_SEC, pastBudget: false });
  await f.pipeline.settle();
  assert.deepEqual(f.probations, [], "the kernel put it on probation already");
  assert.deepEqual(f.responded, []);
  assert.deepEqual(f.kernelBlocks, [{ hit: h, decision: d }]);
  assert.equal(f.policy.probation.isOn("198.51.100.32", 1000), true);
  assert.equal(f.policy.probation.nextLiftMs(), undefined, "the kernel's element times out by itself");
  assert.ok(f.log.messages().includes(msg.probation("198.51.100.32", PROBATION_SEC, false)));
});

test("pipeline: the next probe promotes the probation to the long ban, once", async () => {
  const f = pipeline({}, true);
  f.pipeline.onHit(hit("198.51.100.33", 1000));
  assert.deepEqual(f.pipeline.onHit(hit("198.51.100.33", 2000, "stcp")), {
    kind: "respond",
    level: 1,
    banSec: LONG_SEC,
  });
  assert.equal(f.pipeline.onHit(hit("198.51.100.33", 3000)).kind, "already-blocked");
  await f.pipeline.settle();
  assert.equal(f.probations.length, 1);
  assert.equal(f.responded.length, 1);
  assert.equal(f.responded[0]?.record.address, "198.51.100.33");
  assert.equal(f.responded[0]?.record.expiresAtMs, 1_700_000_000_000 + LONG_SEC * 1000);
  assert.equal(f.responded[0]?.origin, "detection");
  assert.equal(f.policy.probation.isOn("198.51.100.33", 2000), false, "the long ban replaced it");
  assert.equal(f.policy.probation.knows("198.51.100.33", 2000), true, "still a known repeat offender");
  assert.deepEqual(f.policy.probation.takeEnded(1000 + PROBATION_SEC * 1000), [], "not lifted under the ban");
  assert.equal(f.pipeline.counters.detections, 1);
  assert.equal(f.policy.probation.started, 1);
});

test("pipeline: a kernel repeat report is promoted to the long ban (origin detection)", async () => {
  const f = pipeline();
  f.pipeline.onHit(hit("198.51.100.34", 0, "stcp", { kernelBlocked: true }));
  const d = f.pipeline.onHit(hit("198.51.100.34", 500, "stcp", { probationRepeat: true }));
  assert.equal(d.kind, "respond");
  await f.pipeline.settle();
  assert.equal(f.responded.length, 1);
  assert.equal(f.kernelBlocks.length, 1, "only the trapped first probe");
  assert.equal(f.policy.probation.isOn("198.51.100.34", 500), false);
});

test("pipeline: past the budget a repeat goes on probation (logged as such); one on probation is held back", async () => {
  const f = pipeline({ maxBlocksPerMinute: 1 });
  f.pipeline.onHit(hit("198.51.100.40", 0)); // probation
  f.pipeline.onHit(hit("198.51.100.41", 0)); // probation
  f.pipeline.onHit(hit("198.51.100.42", 0, "tcp")); // a full connect: spends the budget
  assert.equal(f.pipeline.onHit(hit("198.51.100.40", 10)).kind, "held-back");
  assert.equal(f.pipeline.counters.heldBack, 1);
  // A full connect from a source the daemon does not hold: probation past the budget.
  assert.deepEqual(f.pipeline.onHit(hit("198.51.100.43", 20, "tcp")), {
    kind: "probation",
    banSec: PROBATION_SEC,
    pastBudget: true,
  });
  await f.pipeline.settle();
  assert.equal(f.responded.length, 1);
  assert.deepEqual(
    f.probations.map((p) => p.hit.address),
    ["198.51.100.40", "198.51.100.41", "198.51.100.43"],
  );
  assert.ok(f.log.messages().includes(msg.probation("198.51.100.43", PROBATION_SEC, true)));
  assert.match(msg.probation("198.51.100.43", PROBATION_SEC, true), /block limit reached/);
  assert.equal(f.policy.probation.isOn("198.51.100.40", 10), true, "still on probation");
});

test("pipeline with PROBATION_TIMEOUT 0: no probation, the classic ban", async () => {
  const f = pipeline({ probationSec: 0 });
  assert.equal(f.pipeline.onHit(hit("198.51.100.50", 0)).kind, "respond");
  await f.pipeline.settle();
  assert.equal(f.responded.length, 1);
  assert.deepEqual(f.probations, []);
  assert.equal(f.policy.probation.started, 0);
  assert.ok(!f.log.messages().some((m) => m.includes("probation")));
});
