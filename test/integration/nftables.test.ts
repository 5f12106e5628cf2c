/**
 * The nftables blocker against a real kernel, inside namespaces created here (root only).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  NFT_CHAIN,
  NFT_MAX_TIMEOUT_SEC,
  NFT_SET4,
  NFT_SET6,
  NftablesResponder,
} from "../../src/respond/nftables.js";
import { run } from "../../src/respond/run.js";
import {
  assertBanStopsTraffic,
  createNamespace,
  createPair,
  FAMILIES,
  inNs,
  must,
  type NetnsPair,
  ROOT_SKIP,
  target,
} from "./psfw-netns.js";

const TABLE = "portsentry";

/** Elements of one set straight from the kernel: address → timeout in seconds (0: none). */
async function kernelSet(ns: string, set: string): Promise<Map<string, number>> {
  const r = await must(inNs(ns, ["nft", "-j", "list", "set", "inet", TABLE, set]));
  const doc = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  const out = new Map<string, number>();
  for (const item of doc.nftables) {
    for (const e of item.set?.elem ?? []) {
      if (typeof e === "string") out.set(e, 0);
      else {
        const inner = (e as { elem: { val: string; timeout?: number } }).elem;
        out.set(inner.val, inner.timeout ?? 0);
      }
    }
  }
  return out;
}

async function tableExists(ns: string): Promise<boolean> {
  const r = await run(inNs(ns, ["nft", "list", "table", "inet", TABLE]), { timeoutMs: 10_000 });
  return r.code === 0;
}

async function ruleCount(ns: string): Promise<number> {
  const r = await must(inNs(ns, ["nft", "-j", "list", "chain", "inet", TABLE, NFT_CHAIN]));
  return (JSON.parse(r.stdout) as { nftables: { rule?: unknown }[] }).nftables.filter((i) => i.rule).length;
}

describe("nftables responder (netns)", { skip: ROOT_SKIP }, () => {
  let ns = "";
  let cleanupNs: () => Promise<void> = async () => {};
  let fw: NftablesResponder;

  before(async () => {
    const created = await createNamespace("nft");
    ns = created.ns;
    cleanupNs = created.cleanup;
    fw = new NftablesResponder({ command: inNs(ns, ["nft"]) });
  });
  after(async () => {
    await fw?.stop();
    await cleanupNs();
  });

  test("start creates the table, both sets and the prerouting drop chain", async () => {
    assert.deepEqual(await fw.start(), { ok: true });
    assert.equal(fw.mode, "interactive");
    const r = await must(inNs(ns, ["nft", "-j", "list", "table", "inet", TABLE]));
    const items = (JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
    const sets = items.filter((i) => i.set).map((i) => [i.set!.name, i.set!.type]);
    assert.deepEqual(sets.sort(), [
      [NFT_SET4, "ipv4_addr"],
      [NFT_SET6, "ipv6_addr"],
      ["probation4", "ipv4_addr"],
      ["probation6", "ipv6_addr"],
    ]);
    const chains = items.filter((i) => i.chain).map((i) => i.chain!);
    const chain = chains.find((c) => c.name === NFT_CHAIN);
    assert.equal(chain?.hook, "prerouting");
    assert.equal(chain?.prio, -300);
    assert.equal(await ruleCount(ns), 2);
    // PROBATION_TIMEOUT: dropped after the kernel trap's chain (-150).
    const probation = chains.find((c) => c.name === "probation");
    assert.equal(probation?.hook, "prerouting");
    assert.equal(probation?.prio, -140);
  });

  test("probation puts the host in the probation set with its timeout; unban lifts it", async () => {
    assert.deepEqual(await fw.probation(target("198.51.100.40"), 600), { ok: true });
    assert.equal((await kernelSet(ns, "probation4")).get("198.51.100.40"), 600);
    assert.equal((await kernelSet(ns, NFT_SET4)).has("198.51.100.40"), false);
    assert.deepEqual(await fw.unban(target("198.51.100.40")), { ok: true });
    assert.equal((await kernelSet(ns, "probation4")).has("198.51.100.40"), false);
  });

  test("start again neither fails nor duplicates the rules, and keeps the blocks", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.10"), 0), { ok: true });
    assert.deepEqual(await fw.start(), { ok: true });
    assert.deepEqual(await fw.start(), { ok: true });
    assert.equal(await ruleCount(ns), 2);
    assert.ok((await kernelSet(ns, NFT_SET4)).has("198.51.100.10"));
  });

  test("ban puts IPv4 and IPv6 addresses in their sets; banning twice is fine", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 0), { ok: true });
    assert.deepEqual(await fw.ban(target("2001:db8::77"), 0), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.1"), 0), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).get("198.51.100.1"), 0);
    assert.equal((await kernelSet(ns, NFT_SET6)).get("2001:db8::77"), 0);
  });

  test("ban with a timeout gives the element that timeout; a new ban replaces it", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.2"), 3600), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).get("198.51.100.2"), 3600);
    assert.deepEqual(await fw.ban(target("198.51.100.2"), 90_000), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).get("198.51.100.2"), 90_000);
    assert.deepEqual(await fw.ban(target("198.51.100.2"), 0), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).get("198.51.100.2"), 0);
    // Beyond the kernel's range: kept forever, the daemon's expiry lifts it.
    assert.deepEqual(await fw.ban(target("198.51.100.14"), NFT_MAX_TIMEOUT_SEC + 1), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).get("198.51.100.14"), 0);
    const listed = await fw.listBlocked();
    assert.ok(listed.ok);
    assert.deepEqual(
      listed.entries.find((e) => e.address === "198.51.100.1"),
      { address: "198.51.100.1", family: 4, expiresSec: null },
    );
    assert.deepEqual(await fw.ban(target("2001:db8::78"), 600), { ok: true });
    const again = await fw.listBlocked();
    assert.ok(again.ok);
    const e6 = again.entries.find((e) => e.address === "2001:db8::78");
    assert.ok(e6 && e6.family === 6 && e6.expiresSec !== null && e6.expiresSec > 500 && e6.expiresSec <= 600);
  });

  test("unban removes; unbanning an address that is not banned is fine", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.3"), 60), { ok: true });
    assert.deepEqual(await fw.unban(target("198.51.100.3")), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET4)).has("198.51.100.3"), false);
    assert.deepEqual(await fw.unban(target("198.51.100.3")), { ok: true });
    assert.deepEqual(await fw.unban(target("2001:db8::77")), { ok: true });
    assert.equal((await kernelSet(ns, NFT_SET6)).has("2001:db8::77"), false);
  });

  test("a bad target or timeout is refused without reaching nft", async () => {
    for (const bad of [
      "198.51.100.1 }; flush ruleset; add element inet x y { 1.2.3.4",
      "1.2.3",
      "",
      "::ffff:1.2.3.4.5",
    ]) {
      const r = await fw.ban({ ...target(bad), family: 4 }, 0);
      assert.equal(r.ok, false);
    }
    assert.equal((await fw.ban({ address: "2001:db8::1", family: 4, port: 1, mode: "tcp" }, 0)).ok, false);
    assert.equal((await fw.ban(target("198.51.100.4"), -1)).ok, false);
    assert.equal((await fw.ban(target("198.51.100.4"), 1.5)).ok, false);
    assert.equal(await tableExists(ns), true);
  });

  test("many bans in one tick go out in batches, all land", async () => {
    const addresses: string[] = [];
    for (let i = 0; i < 300; i++) addresses.push(`2001:db8:5::${(i + 1).toString(16)}`);
    for (let i = 0; i < 256; i++) addresses.push(`203.0.113.${i}`);
    const results = await Promise.all(addresses.map((a, i) => fw.ban(target(a), i % 2 === 0 ? 0 : 600)));
    assert.ok(results.every((r) => r.ok));
    const v4 = await kernelSet(ns, NFT_SET4);
    const v6 = await kernelSet(ns, NFT_SET6);
    assert.ok(addresses.every((a) => v4.has(a) || v6.has(a)));
    // ban then unban in the same tick: order is kept.
    const [b, u] = await Promise.all([fw.ban(target("198.51.100.5"), 0), fw.unban(target("198.51.100.5"))]);
    assert.ok(b.ok && u.ok);
    assert.equal((await kernelSet(ns, NFT_SET4)).has("198.51.100.5"), false);
  });

  test("a killed nft helper is replaced: the ban in flight and the next ones still work", async () => {
    assert.deepEqual(await fw.ban(target("198.51.100.6"), 0), { ok: true });
    const firstPid = fw.helperPid;
    assert.ok(firstPid !== undefined);
    const inFlight = fw.ban(target("198.51.100.7"), 0);
    process.kill(firstPid, "SIGKILL"); // the helper we started, by its id
    assert.deepEqual(await inFlight, { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.8"), 0), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.9"), 0), { ok: true });
    assert.notEqual(fw.helperPid, undefined);
    assert.notEqual(fw.helperPid, firstPid);
    const v4 = await kernelSet(ns, NFT_SET4);
    for (const a of ["198.51.100.7", "198.51.100.8", "198.51.100.9"]) assert.ok(v4.has(a), a);
  });

  test("a table deleted behind our back is re-created by the next ban", async () => {
    await must(inNs(ns, ["nft", "delete", "table", "inet", TABLE]));
    assert.deepEqual(await fw.unban(target("198.51.100.9")), { ok: true });
    assert.equal(await tableExists(ns), false, "an unban alone does not re-create the table");
    assert.deepEqual(await fw.ban(target("198.51.100.11"), 0), { ok: true });
    assert.ok((await kernelSet(ns, NFT_SET4)).has("198.51.100.11"));
    assert.equal(await ruleCount(ns), 2);
  });

  test("flush deletes the table; flushing again is fine; stop leaves blocks in place", async () => {
    assert.deepEqual(await fw.flush(), { ok: true });
    assert.equal(await tableExists(ns), false);
    assert.deepEqual(await fw.flush(), { ok: true });
    assert.deepEqual(await fw.listBlocked(), { ok: true, entries: [] });
    assert.deepEqual(await fw.start(), { ok: true });
    assert.deepEqual(await fw.ban(target("198.51.100.12"), 0), { ok: true });
    await fw.stop();
    assert.equal(fw.helperPid, undefined);
    assert.equal((await fw.ban(target("198.51.100.13"), 0)).ok, false);
    assert.ok((await kernelSet(ns, NFT_SET4)).has("198.51.100.12"));
  });

  test("per-batch mode (no helper) does the same job", async () => {
    const oneShot = new NftablesResponder({ command: inNs(ns, ["nft"]), interactive: false });
    try {
      assert.equal(oneShot.mode, "per-batch");
      assert.deepEqual(await oneShot.start(), { ok: true });
      assert.deepEqual(await oneShot.ban(target("2001:db8::99"), 60), { ok: true });
      assert.equal((await kernelSet(ns, NFT_SET6)).get("2001:db8::99"), 60);
      assert.deepEqual(await oneShot.unban(target("2001:db8::99")), { ok: true });
      assert.equal((await kernelSet(ns, NFT_SET6)).has("2001:db8::99"), false);
      assert.deepEqual(await oneShot.flush(), { ok: true });
      assert.equal(await tableExists(ns), false);
    } finally {
      await oneShot.stop();
    }
  });
});

describe("nftables responder stops real traffic (netns pair)", { skip: ROOT_SKIP }, () => {
  let pair: NetnsPair | undefined;
  let fw: NftablesResponder | undefined;

  before(async () => {
    pair = await createPair("nftt");
    await pair.listen();
    fw = new NftablesResponder({ command: inNs(pair.target, ["nft"]) });
  });
  after(async () => {
    await fw?.flush();
    await fw?.stop();
    await pair?.cleanup();
  });

  for (const [family, server, client] of FAMILIES) {
    test(`IPv${family}: connects before the ban, not after, again after the unban`, async () => {
      assert.deepEqual(await fw!.start(), { ok: true });
      await assertBanStopsTraffic(pair!, fw!, server, client, 0);
    });
  }
});
