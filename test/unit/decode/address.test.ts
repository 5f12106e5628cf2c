import assert from "node:assert/strict";
import { isIP } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import {
  canonicalIp,
  formatIpv6,
  formatSourceIp,
  neverBlockable,
  parseIp,
  unmapIpv4,
} from "../../../src/decode/address.js";

test("IPv4 parses strictly", () => {
  assert.equal(canonicalIp("192.0.2.1"), "192.0.2.1");
  assert.equal(canonicalIp("0.0.0.0"), "0.0.0.0");
  assert.equal(canonicalIp("255.255.255.255"), "255.255.255.255");
  for (const bad of [
    "192.0.2",
    "192.0.2.256",
    "01.2.3.4",
    "1.2.3.4.5",
    "",
    "a.b.c.d",
    "1..2.3",
    " 1.2.3.4",
    "1.2.3.",
    ".1.2.3",
    "1.2.3.4.",
    "1.2.3.00",
    "1.2.3.4444",
    "1.2.3.-4",
  ]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test("IPv6 canonical form follows RFC 5952", () => {
  const cases: [string, string][] = [
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["fe80::", "fe80::"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  for (const bad of [":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "::1.2.3"]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test("unmapIpv4 turns ::ffff:a.b.c.d into IPv4", () => {
  const ip = unmapIpv4(parseIp("::ffff:192.0.2.7")!);
  assert.equal(ip.family, 4);
  assert.deepEqual([...ip.bytes], [192, 0, 2, 7]);
  assert.equal(unmapIpv4(parseIp("2001:db8::1")!).family, 6);
});

test("property: format(parse(x)) round-trips and agrees with node:net", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const text = formatIpv6(bytes);
      assert.equal(isIP(text), 6);
      assert.deepEqual(parseIp(text)?.bytes, bytes);
    }),
  );
  // Strings of digits and dots: accepted exactly when node:net calls them IPv4.
  const digitsAndDots = fc
    .array(fc.constantFrom("0", "1", "2", "5", "9", "."), { maxLength: 16 })
    .map((chars) => chars.join(""));
  fc.assert(
    fc.property(digitsAndDots, (s) => {
      const ip = parseIp(s);
      assert.equal(ip !== undefined, isIP(s) === 4, s);
      if (ip) assert.equal(canonicalIp(s), s);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 50 }), (s) => {
      const ip = parseIp(s);
      if (ip) assert.equal(isIP(s), ip.family);
    }),
  );
});

test("formatSourceIp: an IPv4-mapped source is the IPv4 address; others are canonical", () => {
  const mapped = parseIp("::ffff:192.0.2.1")!.bytes;
  assert.equal(formatSourceIp(6, mapped), "192.0.2.1");
  const padded = new Uint8Array(20);
  padded.set(mapped, 4);
  assert.equal(formatSourceIp(6, padded, 4), "192.0.2.1");
  assert.equal(formatSourceIp(6, parseIp("2001:db8::1")!.bytes), "2001:db8::1");
  // ::ffff:0:c000:201 (SIIT translated) and ::c000:201 (deprecated compatible) are not mapped.
  assert.equal(formatSourceIp(6, parseIp("::ffff:0:c000:201")!.bytes), "::ffff:0:c000:201");
  assert.equal(formatSourceIp(6, parseIp("::192.0.2.1")!.bytes), "::c000:201");
  assert.equal(formatSourceIp(4, parseIp("192.0.2.1")!.bytes), "192.0.2.1");
});

test("neverBlockable: non-unicast, unspecified, loopback and mapped sources, with a reason", () => {
  for (const a of [
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.1",
    "127.255.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "ff02::1",
    "ff0e::1",
    "::ffff:192.0.2.1",
  ]) {
    assert.equal(typeof neverBlockable(a), "string", a);
  }
  assert.match(neverBlockable("255.255.255.255")!, /broadcast/);
  assert.match(neverBlockable("::")!, /unspecified/);
  assert.match(neverBlockable("ff02::1")!, /multicast/);
  // An IPv4 address reported for an IPv6 packet: it came IPv4-mapped.
  assert.match(neverBlockable("192.0.2.1", 6)!, /mapped/);
  for (const a of [
    "192.0.2.1",
    "1.0.0.0",
    "223.255.255.255",
    "126.255.255.255",
    "2001:db8::1",
    "fe80::1",
    "::2",
  ]) {
    assert.equal(neverBlockable(a), undefined, a);
    assert.equal(neverBlockable(a, a.includes(":") ? 6 : 4), undefined, a);
  }
});
