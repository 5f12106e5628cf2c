/**
 * The fleet link against a real redis-server on loopback (started here, own port and directory,
 * removed after): publish → another member's apply, the outbox across an outage, a restart
 * resuming from the last id, the fleet trigger, malformed entries counted.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FleetEvent } from "../../../src/fleet/event.js";
import { FleetLink, type FleetLinkOptions, isAuthError } from "../../../src/fleet/link.js";
import { FLEET_LIMITS } from "../../../src/limits.js";
import { FleetStore } from "../../../src/state/fleet-store.js";
import { memberAclRules, redisMissing, startRedis, type TestRedis } from "../../helpers/redis-server.js";
import { waitFor } from "../../netns/netns.js";

const NAME = "test-fleet";

function event(address: string, origin: string, kind: "block" | "unblock" = "block"): FleetEvent {
  const now = Date.now();
  return {
    kind,
    origin,
    address,
    mode: "stcp",
    port: 1,
    classification: "SYN scan",
    sinceMs: now,
    expiresAtMs: now + 3_600_000,
  };
}

describe("fleet link on a real redis-server", { skip: redisMissing }, () => {
  let redis: TestRedis;
  let dir: string;
  const links: FleetLink[] = [];
  const stores: FleetStore[] = [];

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), "ps-fleet-link-"));
  });
  after(async () => {
    for (const l of links) await l.stop();
    for (const s of stores) s.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function member(name: string, applied: FleetEvent[], extra: Partial<FleetLinkOptions> = {}): FleetLink {
    const store = new FleetStore(join(dir, `${name}.db`), FLEET_LIMITS.maxOutbox);
    stores.push(store);
    const link = new FleetLink({
      url: { tls: false, host: "127.0.0.1", port: redis.port, db: 0 },
      user: undefined,
      password: undefined,
      tls: undefined,
      name: NAME,
      member: name,
      share: true,
      trigger: 0,
      windowMs: 60_000,
      banMs: 3_600_000,
      store,
      wallClockMs: Date.now,
      warn: () => {},
      apply: async (e) => void applied.push(e),
      ...extra,
    });
    links.push(link);
    return link;
  }

  test("a block published by one member is applied by another, once, with its origin", async () => {
    const gotA: FleetEvent[] = [];
    const gotB: FleetEvent[] = [];
    const a = member("m1", gotA);
    const b = member("m2", gotB);
    await a.start();
    await b.start();
    a.publish(event("192.0.2.7", "m1"));
    a.publish(event("192.0.2.7", "m1")); // already current fleet-wide: not added again
    await waitFor(() => gotB.length === 1, { what: "m2 applies the block" });
    assert.equal(gotB[0]?.origin, "m1");
    assert.equal(gotB[0]?.address, "192.0.2.7");
    assert.equal(gotA.length, 0, "a member does not apply its own event");
    await waitFor(() => a.outboxSize === 0, { what: "the outbox drains" });
    const admin = redis.admin();
    assert.equal(await admin.xlen(`{${NAME}}:events`), 1);
    assert.equal(await admin.hexists(`{${NAME}}:blocks`, "192.0.2.7"), 1);
    assert.ok((await admin.pttl(`{${NAME}}:events`)) === -1, "the stream is bounded by MAXLEN, not a TTL");
    b.publishUnblock(event("192.0.2.7", "m2", "unblock"));
    await waitFor(async () => (await admin.hexists(`{${NAME}}:blocks`, "192.0.2.7")) === 0, {
      what: "the unblock clears the current block",
    });
    await waitFor(() => gotA.some((e) => e.kind === "unblock"), { what: "m1 sees the unblock" });
  });

  test("a member that joins late gets the current blocks from the set", async () => {
    const got: FleetEvent[] = [];
    const seed = member("m3", []);
    await seed.start();
    seed.publish(event("2001:db8::99", "m3"));
    await waitFor(() => seed.outboxSize === 0 && seed.stats.eventsOut > 0, { what: "published" });
    const late = member("m4", got);
    await late.start();
    await waitFor(() => got.some((e) => e.address === "2001:db8::99"), { what: "late member applies" });
    assert.equal(late.stats.snapshots, 1);
  });

  test("malformed and oversized entries are counted and dropped, never thrown", async () => {
    const got: FleetEvent[] = [];
    const m = member("m5", got);
    await m.start();
    const admin = redis.admin();
    const stream = `{${NAME}}:events`;
    await admin.xadd(
      stream,
      "*",
      "v",
      "1",
      "k",
      "block",
      "o",
      "evil",
      "a",
      "not-an-ip",
      "m",
      "stcp",
      "p",
      "1",
      "s",
      "1",
      "e",
      "0",
    );
    await admin.xadd(stream, "*", "x", "y".repeat(5000));
    await admin.xadd(stream, "*", "v", "2");
    await waitFor(() => m.stats.malformed >= 3, { what: "three malformed counted" });
    // And the stream goes on: a good event after them is applied.
    const other = member("m6", []);
    await other.start();
    other.publish(event("198.51.100.3", "m6"));
    await waitFor(() => got.some((e) => e.address === "198.51.100.3"), { what: "good event after bad ones" });
  });

  test("Redis down: publishing fails nothing, the outbox keeps the event, sent on reconnect; a restarted reader resumes", async () => {
    const got: FleetEvent[] = [];
    const receiver = member("m7", got);
    const sender = member("m8", []);
    await receiver.start();
    await sender.start();
    await redis.kill();
    await waitFor(() => !sender.stats.connected, { what: "the sender sees Redis gone" });
    sender.publish(event("192.0.2.77", "m8"));
    assert.equal(sender.outboxSize, 1, "kept locally while Redis is down");
    await redis.restart();
    await waitFor(() => got.some((e) => e.address === "192.0.2.77"), {
      timeoutMs: 15_000,
      what: "delivered after the outage",
    });
    assert.equal(sender.outboxSize, 0);
    assert.equal(got.filter((e) => e.address === "192.0.2.77").length, 1, "applied once");
  });

  test("fleet trigger: distinct (member, port) hits across members block the source everywhere", async () => {
    const got: FleetEvent[] = [];
    const watcher = member("w", got);
    await watcher.start();
    const reporters = ["r1", "r2", "r3"].map((n) => member(n, [], { trigger: 3 }));
    for (const r of reporters) await r.start();
    reporters[0]?.report("198.51.100.50", "stcp", 1);
    reporters[1]?.report("198.51.100.50", "stcp", 1);
    await waitFor(() => reporters.every((r) => r.stats.hitsReported >= (r === reporters[2] ? 0 : 1)), {
      what: "two reports in",
    });
    assert.equal(got.filter((e) => e.address === "198.51.100.50").length, 0, "not before the third");
    const hits = redis.admin();
    assert.ok((await hits.pttl(`{${NAME}}:hits:198.51.100.50`)) > 0, "the hits key has an expiry");
    reporters[2]?.report("198.51.100.50", "stcp", 1);
    await waitFor(() => got.some((e) => e.address === "198.51.100.50"), { what: "blocked after the third" });
    const e = got.find((x) => x.address === "198.51.100.50");
    assert.equal(e?.origin, "fleet");
    assert.match(e?.classification ?? "", /fleet sweep: 3/);
  });
});

describe("fleet link with Redis ACLs", { skip: redisMissing }, () => {
  const acl = { user: "member", password: "pw-1", rules: memberAclRules(NAME), adminPassword: "admin-pw" };
  let redis: TestRedis;
  let dir: string;
  const opened: { link: FleetLink; store: FleetStore }[] = [];

  before(async () => {
    redis = await startRedis(acl);
    dir = await mkdtemp(join(tmpdir(), "ps-fleet-acl-"));
  });
  after(async () => {
    for (const o of opened) {
      await o.link.stop();
      o.store.close();
    }
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function link(name: string, password: string, applied: FleetEvent[] = []): FleetLink {
    const store = new FleetStore(join(dir, `${name}.db`), FLEET_LIMITS.maxOutbox);
    const l = new FleetLink({
      url: { tls: false, host: "127.0.0.1", port: redis.port, db: 0 },
      user: "member",
      password,
      tls: undefined,
      name: NAME,
      member: name,
      share: true,
      trigger: 2,
      windowMs: 60_000,
      banMs: 0,
      store,
      wallClockMs: Date.now,
      warn: () => {},
      apply: async (e) => void applied.push(e),
    });
    opened.push({ link: l, store });
    return l;
  }

  test("the documented ACL rules are enough: publish, read, the trigger script", async () => {
    const got: FleetEvent[] = [];
    const a = link("acl-a", "pw-1");
    const b = link("acl-b", "pw-1", got);
    await a.start();
    await b.start();
    a.publish(event("192.0.2.44", "acl-a"));
    await waitFor(() => got.some((e) => e.address === "192.0.2.44"), { what: "applied under the ACL" });
    a.report("198.51.100.9", "stcp", 1);
    b.report("198.51.100.9", "stcp", 2);
    await waitFor(() => got.some((e) => e.address === "198.51.100.9" && e.origin === "fleet"), {
      what: "the trigger runs under the ACL",
    });
    assert.equal(a.stats.lastError, undefined, a.stats.lastError);
  });

  test("a wrong password is an error at start (isAuthError), not a retry loop", async () => {
    const bad = link("acl-bad", "wrong");
    await assert.rejects(bad.start(), (err: unknown) => isAuthError(err));
  });

  test("rotation: a member reconnects with the new password (SIGHUP re-reads the file)", async () => {
    const got: FleetEvent[] = [];
    const m = link("acl-rot", "pw-1", got);
    await m.start();
    const admin = redis.admin();
    await admin.call("ACL", "SETUSER", "member", ">pw-2", "<pw-1");
    await admin.call("CLIENT", "KILL", "USER", "member");
    m.reauthenticate("pw-2");
    const other = link("acl-rot2", "pw-2");
    await other.start();
    other.publish(event("192.0.2.45", "acl-rot2"));
    await waitFor(() => got.some((e) => e.address === "192.0.2.45"), {
      timeoutMs: 10_000,
      what: "read after rotation",
    });
  });
});
