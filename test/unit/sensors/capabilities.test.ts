import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  ALL_CAPABILITIES,
  type CapabilityConfig,
  describeMissing,
  hasCapability,
  missingCapabilities,
  neededCapabilities,
  parseCapEff,
  readEffectiveCapabilities,
  readUnprivilegedPortStart,
} from "../../../src/sensors/capabilities.js";

const dir = await mkdtemp(join(tmpdir(), "pspkg-caps-"));
after(() => rm(dir, { recursive: true, force: true }));

/** Full root set on a 6.x kernel (CAP_CHECKPOINT_RESTORE = 40 is the last). */
const ROOT = 0x000001ffffffffffn;
const NET_RAW = 1n << 13n;
const NET_ADMIN = 1n << 12n;
const NET_BIND = 1n << 10n;

const config = (over: Partial<CapabilityConfig> = {}): CapabilityConfig => ({
  tcpPorts: [1, 11, 15, 79, 111, 119, 143, 1080, 31337],
  udpPorts: [1, 7, 9, 31337],
  blockTcp: 1,
  blockUdp: 1,
  killFirewall: "nftables",
  killRoute: undefined,
  ...over,
});

test("parseCapEff reads the hex mask and refuses anything else", () => {
  const status =
    "Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
  assert.equal(parseCapEff(status), ROOT);
  assert.equal(parseCapEff("CapEff:\t0000000000003400\n"), NET_RAW | NET_ADMIN | NET_BIND);
  assert.equal(parseCapEff("CapEff:\t0\n"), 0n);
  assert.equal(parseCapEff("Name:\tnode\n"), undefined);
  assert.equal(parseCapEff("CapEff:\tzz\n"), undefined);
  assert.equal(parseCapEff("CapEff:\t00000000000000000\n"), undefined, "17 digits");
  assert.equal(parseCapEff("CapEff:\t\n"), undefined);
  assert.equal(parseCapEff("XCapEff:\t3400\n"), undefined);
});

test("hasCapability tests the bit of each capability", () => {
  assert.equal(hasCapability(NET_RAW, "CAP_NET_RAW"), true);
  assert.equal(hasCapability(NET_RAW, "CAP_NET_ADMIN"), false);
  for (const c of ALL_CAPABILITIES) assert.equal(hasCapability(ROOT, c), true, c);
  for (const c of ALL_CAPABILITIES) assert.equal(hasCapability(0n, c), false, c);
});

test("missingCapabilities with sample CapEff values", () => {
  const all = ["CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"] as const;
  assert.deepEqual(missingCapabilities(all, ROOT), []);
  // What systemd's CapabilityBoundingSet= of the shipped unit leaves root with.
  assert.deepEqual(missingCapabilities(all, 0x3400n), []);
  // root minus cap_net_raw, as `capsh --drop=cap_net_raw` leaves it.
  assert.deepEqual(missingCapabilities(all, ROOT & ~NET_RAW), ["CAP_NET_RAW"]);
  assert.deepEqual(missingCapabilities(all, 0n), [...all]);
  assert.deepEqual(missingCapabilities(["CAP_NET_RAW", "CAP_NET_RAW"], 0n), ["CAP_NET_RAW"]);
  assert.deepEqual(missingCapabilities(all, undefined), [], "unknown set: nothing reported");
});

test("readEffectiveCapabilities reads a status file; missing or garbled gives undefined", async () => {
  const path = join(dir, "status");
  await writeFile(path, "Name:\tx\nCapEff:\t0000000000001000\n");
  assert.equal(readEffectiveCapabilities(path), NET_ADMIN);
  await writeFile(path, "\u0000\u0001garbage");
  assert.equal(readEffectiveCapabilities(path), undefined);
  assert.equal(readEffectiveCapabilities(join(dir, "absent")), undefined);
  // This process: some mask (the real /proc).
  assert.equal(typeof readEffectiveCapabilities(), "bigint");
});

test("readUnprivilegedPortStart: the sysctl value, 1024 when unreadable or garbled", async () => {
  const path = join(dir, "port_start");
  await writeFile(path, "0\n");
  assert.equal(readUnprivilegedPortStart(path), 0);
  await writeFile(path, "not a number\n");
  assert.equal(readUnprivilegedPortStart(path), 1024);
  await writeFile(path, "70000\n");
  assert.equal(readUnprivilegedPortStart(path), 1024);
  assert.equal(readUnprivilegedPortStart(join(dir, "absent")), 1024);
});

test("stealth and advanced modes need CAP_NET_RAW", () => {
  const needs = neededCapabilities(["stcp", "audp"], config({ blockTcp: 0, blockUdp: 0 }));
  assert.deepEqual(needs, [
    { capability: "CAP_NET_RAW", reason: "-stcp and -audp (packet capture)", certain: true },
  ]);
});

test("basic modes need CAP_NET_BIND_SERVICE only for a port below the unprivileged start", () => {
  const none = config({ blockTcp: 0, blockUdp: 0 });
  const needs = neededCapabilities(["tcp", "udp"], none);
  assert.equal(needs.length, 1);
  assert.equal(needs[0]?.capability, "CAP_NET_BIND_SERVICE");
  assert.equal(
    needs[0]?.reason,
    "-tcp and -udp (binding ports below 1024: TCP 1, 11, 15, 79, 111 and 2 more; UDP 1, 7, 9)",
  );
  assert.deepEqual(
    neededCapabilities(["tcp"], config({ tcpPorts: [1080, 31337], blockTcp: 0, blockUdp: 0 })),
    [],
  );
  // A container with net.ipv4.ip_unprivileged_port_start=0 needs nothing to bind.
  assert.deepEqual(neededCapabilities(["tcp", "udp"], none, 0), []);
  // Advanced and stealth modes bind nothing.
  assert.ok(neededCapabilities(["atcp"], none).every((n) => n.capability !== "CAP_NET_BIND_SERVICE"));
});

test("a built-in firewall needs CAP_NET_ADMIN when some BLOCK_* level blocks", () => {
  const admin = (c: CapabilityConfig) =>
    neededCapabilities(["atcp"], c).filter((n) => n.capability === "CAP_NET_ADMIN");
  assert.deepEqual(admin(config()), [
    {
      capability: "CAP_NET_ADMIN",
      reason: 'KILL_FIREWALL="nftables" (adding blocks to the firewall)',
      certain: true,
    },
  ]);
  assert.deepEqual(admin(config({ blockTcp: 0, blockUdp: 0 })), [], "log only");
  assert.deepEqual(admin(config({ blockTcp: 2, blockUdp: 2 })), [], "command only");
  assert.equal(admin(config({ blockTcp: 0, killFirewall: "ipset" })).length, 1, "BLOCK_UDP blocks");
  assert.deepEqual(admin(config({ killFirewall: "none" })), []);
  const route = admin(config({ killFirewall: "none", killRoute: "/sbin/ip route add blackhole $TARGET$" }));
  assert.equal(route.length, 1);
  assert.equal(route[0]?.certain, false, "an operator's command: a guess");
});

test("no modes need nothing; order is RAW, ADMIN, BIND", () => {
  assert.deepEqual(neededCapabilities([], config({ blockTcp: 0, blockUdp: 0 })), []);
  const order = neededCapabilities(["tcp", "sudp"], config()).map((n) => n.capability);
  assert.deepEqual(order, ["CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]);
});

test("describeMissing: one precise message per missing capability", () => {
  const needs = neededCapabilities(["stcp", "udp"], config());
  const messages = describeMissing(needs, ROOT & ~NET_RAW & ~NET_BIND).map((m) => m.message);
  assert.deepEqual(messages, [
    "missing capability CAP_NET_RAW: needed for -stcp (packet capture)",
    "missing capability CAP_NET_BIND_SERVICE: needed for -udp (binding ports below 1024: UDP 1, 7, 9)",
  ]);
  assert.deepEqual(describeMissing(needs, 0x3400n), []);
  assert.deepEqual(describeMissing(needs, undefined), []);
});
