/**
 * The ipset blocker against a real kernel, inside namespaces created here (root only).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { IPSET_MAX_TIMEOUT_SEC, IpsetResponder } from "../../src/respond/ipset.js";
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

/** Set members straight from the kernel: address → timeout left (0: forever); undefined: no set. */
async function members(ns: string, set: string): Promise<Map<string, number> | undefined> {
  const r = await run(inNs(ns, ["ipset", "save", set]), { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  const out = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    const m = /^add \S+ (\S+)(?: timeout (\d+))?/.exec(line);
    if (m) out.set(m[1]!, Number(m[2] ?? 0));
  }
  return out;
}

describe("ipset responder (netns pair)", { skip: ROOT_SKIP }, () => {
  let pair: NetnsPair | undefined;
  let fw: IpsetResponder;
  let ns = "";

  before(async () => {
    pair = await createPair("ips");
    ns = pair.target;
    await pair.listen();
    fw = new IpsetResponder({
      ipset: inNs(ns, ["ipset"]),
      iptables: inNs(ns, ["iptables"]),
      ip6tables: inNs(ns, ["ip6tables"]),
    });
  });
  after(async () => {
    await fw?.flush();
    await fw?.stop();
    await pair?.cleanup();
  });

  test("start creates both sets, the chain, the jump and one match-set rule each, idempotently", async () => {
    assert.deepEqual(await fw.start(), { ok: true });
    assert.deepEqual(await fw.start(), { ok: true });
    assert.deepEqual(await members(ns, "portsentry4"), new Map());
    assert.deepEqual(await members(ns, "portsentry6"), new Map());
    for (const [tool, set] of [
      ["iptables", "portsentry4"],
      ["ip6tables", "portsentry6"],
    ] as const) {
      assert.deepEqual(await rules(ns, tool, "INPUT"), [`-A INPUT -j ${CHAIN}`]);
      assert.deepEqual(await rules(ns, tool, CHAIN), [`-A ${CHAIN} -m set --match-set ${set} src -j DROP`]);
    }
  });

  test("ban adds with the timeout (re-ban replaces it), unban removes, v4 and v6", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 60), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 3600), { ok: true });
    assert.deepEqual(await fw.ban(target("2001:db8::77"), 0), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.2"), IPSET_MAX_TIMEOUT_SEC + 1), { ok: true });
    const v4 = await members(ns, "portsentry4");
    const left = v4?.get("198.51.100.1") ?? -1;
    assert.ok(left > 3500 && left <= 3600, `timeout left ${left}`);
    assert.equal(v4?.get("198.51.100.2"), 0, "beyond ipset's maximum: forever, the daemon unbans");
    assert.equal((await members(ns, "portsentry6"))?.get("2001:db8::77"), 0);
    const listed = await fw.listBlocked();
    assert.ok(listed.ok);
    assert.deepEqual(
      listed.entries.find((e) => e.address === "2001:db8::77"),
      { address: "2001:db8::77", family: 6, expiresSec: null },
    );
    for (const a of ["198.51.100.1", "198.51.100.2", "2001:db8::77", "2001:db8::77"]) {
      assert.deepEqual(await fw.unban(target(a)), { ok: true });
    }
    assert.deepEqual(await members(ns, "portsentry4"), new Map());
    assert.deepEqual(await members(ns, "portsentry6"), new Map());
    assert.equal((await fw.ban({ ...target("198.51.100.3,198.51.100.4"), family: 4 }, 0)).ok, false);
  });

  for (const [family, server, client] of FAMILIES) {
    test(`IPv${family} traffic: connects before the ban, not after, again after the unban`, async () => {
      await assertBanStopsTraffic(pair!, fw, server, client, 600);
    });
  }

  test("flush removes rules, chain and sets; again is fine; a ban afterwards re-creates them", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.5"), 0), { ok: true });
    assert.deepEqual(await fw.flush(), { ok: true });
    assert.equal(await members(ns, "portsentry4"), undefined);
    assert.equal(await members(ns, "portsentry6"), undefined);
    for (const tool of ["iptables", "ip6tables"] as const)
      assert.deepEqual(await rules(ns, tool, "INPUT"), []);
    assert.deepEqual(await fw.flush(), { ok: true });
    assert.deepEqual(await fw.listBlocked(), { ok: true, entries: [] });
    assert.deepEqual(await fw.ban(target("198.51.100.6"), 0), { ok: true });
    assert.equal((await members(ns, "portsentry4"))?.get("198.51.100.6"), 0);
    assert.deepEqual(await fw.flush(), { ok: true });
  });
});
