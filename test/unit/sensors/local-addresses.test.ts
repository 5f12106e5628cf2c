import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { test } from "node:test";
import { broadcastAddress, subnetBroadcasts } from "../../../src/sensors/local-addresses.js";

test("broadcastAddress: the directed broadcast of an IPv4 network; none for /31, /32 or IPv6", () => {
  assert.equal(broadcastAddress("192.0.2.1", 24), "192.0.2.255");
  assert.equal(broadcastAddress("198.51.100.77", 26), "198.51.100.127");
  assert.equal(broadcastAddress("10.1.2.3", 8), "10.255.255.255");
  assert.equal(broadcastAddress("203.0.113.5", 30), "203.0.113.7");
  assert.equal(broadcastAddress("0.0.0.0", 0), "255.255.255.255");
  assert.equal(broadcastAddress("203.0.113.5", 31), undefined);
  assert.equal(broadcastAddress("203.0.113.5", 32), undefined);
  assert.equal(broadcastAddress("2001:db8::1", 64), undefined);
  assert.equal(broadcastAddress("192.0.2.1", Number.NaN), undefined);
});

test("subnetBroadcasts: one per IPv4 network of this host's interfaces", () => {
  const expected = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const bits = a.family === "IPv4" && a.cidr !== null ? Number(a.cidr.split("/")[1]) : 32;
      const b = broadcastAddress(a.address, bits);
      if (b !== undefined) expected.add(b);
    }
  }
  assert.deepEqual([...subnetBroadcasts()].sort(), [...expected].sort());
  // Loopback is a /8 on Linux: its broadcast is there, whatever else the host has.
  assert.ok(subnetBroadcasts().has("127.255.255.255"));
});
