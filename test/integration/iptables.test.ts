/**
 * The iptables blocker against a real kernel, inside namespaces created here (root only).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { IptablesResponder } from "../../src/respond/iptables.js";
import { run } from "../../src/respond/run.js";
import {
  assertBanStopsTraffic,
  createPair,
  FAMILIES,
  inNs,
  type NetnsPair,
  ROOT_SKIP,
  rules,
  target,
} from "./psfw-netns.js";

const CHAIN = "PORTSENTRY";

describe("iptables responder (netns pair)", { skip: ROOT_SKIP }, () => {
  let pair: NetnsPair | undefined;
  let fw: IptablesResponder;
  let ns = "";

  before(async () => {
    pair = await createPair("ipt");
    ns = pair.target;
    await pair.listen();
    fw = new IptablesResponder({ iptables: inNs(ns, ["iptables"]), ip6tables: inNs(ns, ["ip6tables"]) });
  });
  after(async () => {
    await fw?.flush();
    await fw?.stop();
    await pair?.cleanup();
  });

  test("start creates the chain and one INPUT jump per family, also when run twice", async () => {
    assert.deepEqual(await fw.start(), { ok: true });
    assert.deepEqual(await fw.start(), { ok: true });
    for (const tool of ["iptables", "ip6tables"] as const) {
      assert.deepEqual(await rules(ns, tool, "INPUT"), [`-A INPUT -j ${CHAIN}`]);
      assert.deepEqual(await rules(ns, tool, CHAIN), []);
    }
  });

  test("ban adds one DROP rule (twice is fine), unban removes it, v4 and v6", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 0), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 3600), { ok: true });
    assert.deepEqual(await fw.ban(target("2001:db8::77"), 0), { ok: true });
    assert.deepEqual(await rules(ns, "iptables", CHAIN), [`-A ${CHAIN} -s 198.51.100.1/32 -j DROP`]);
    assert.deepEqual(await rules(ns, "ip6tables", CHAIN), [`-A ${CHAIN} -s 2001:db8::77/128 -j DROP`]);
    assert.deepEqual(await fw.listBlocked(), {
      ok: true,
      entries: [
        { address: "198.51.100.1", family: 4 },
        { address: "2001:db8::77", family: 6 },
      ],
    });
    assert.deepEqual(await fw.unban(target("198.51.100.1")), { ok: true });
    assert.deepEqual(await fw.unban(target("198.51.100.1")), { ok: true });
    assert.deepEqual(await fw.unban(target("2001:db8::77")), { ok: true });
    assert.deepEqual(await rules(ns, "iptables", CHAIN), []);
    assert.deepEqual(await rules(ns, "ip6tables", CHAIN), []);
  });

  test("concurrent bans of one address leave one rule; a bad target is refused", async () => {
    const results = await Promise.all([1, 2, 3].map(() => fw.ban(target("198.51.100.2"), 0)));
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(await rules(ns, "iptables", CHAIN), [`-A ${CHAIN} -s 198.51.100.2/32 -j DROP`]);
    assert.equal((await fw.ban({ ...target("198.51.100.3 -j ACCEPT"), family: 4 }, 0)).ok, false);
    assert.equal((await fw.ban({ ...target("2001:db8::5"), family: 4 }, 0)).ok, false);
    assert.deepEqual(await fw.unban(target("198.51.100.2")), { ok: true });
  });

  for (const [family, server, client] of FAMILIES) {
    test(`IPv${family} traffic: connects before the ban, not after, again after the unban`, async () => {
      await assertBanStopsTraffic(pair!, fw, server, client, 0);
    });
  }

  test("flush removes the jumps and the chains; again is fine; a ban afterwards re-creates them", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.4"), 0), { ok: true });
    assert.deepEqual(await fw.flush(), { ok: true });
    for (const tool of ["iptables", "ip6tables"] as const) {
      assert.deepEqual(await rules(ns, tool, "INPUT"), []);
      const listed = await run(inNs(ns, [tool, "-w", "5", "-S", CHAIN]), { timeoutMs: 10_000 });
      assert.notEqual(listed.code, 0, `${tool}: chain gone`);
    }
    assert.deepEqual(await fw.flush(), { ok: true });
    assert.deepEqual(await fw.listBlocked(), { ok: true, entries: [] });
    assert.deepEqual(await fw.ban(target("198.51.100.5"), 0), { ok: true });
    assert.deepEqual(await rules(ns, "iptables", "INPUT"), [`-A INPUT -j ${CHAIN}`]);
    assert.deepEqual(await fw.flush(), { ok: true });
  });
});
