import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatPrefix, IgnoreList, parseIgnoreList, parsePrefix } from "../../../src/config/ignore.js";
import { formatConfigError } from "../../../src/config/types.js";
import { parseIp } from "../../../src/decode/address.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const read = (rel: string): string => readFileSync(`${ROOT}${rel}`, "utf8");

function list(text: string): IgnoreList {
  const r = parseIgnoreList(text, "portsentry.ignore");
  if (!r.ok) assert.fail(r.errors.map(formatConfigError).join("\n"));
  return r.value;
}

function messages(text: string): string[] {
  const r = parseIgnoreList(text, "portsentry.ignore");
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors.map(formatConfigError);
}

test("the 1.2 reference ignore file parses: 127.0.0.1/32 and a bare 0.0.0.0 (= /32)", () => {
  const l = list(read("test/fixtures/portsentry-1.2.ignore"));
  assert.equal(l.size, 2);
  assert.ok(l.matches("127.0.0.1"));
  assert.ok(l.matches("0.0.0.0"));
  assert.ok(!l.matches("127.0.0.2"));
  assert.ok(!l.matches("0.0.0.1"));
  assert.deepEqual(l.prefixes().map(formatPrefix).sort(), ["0.0.0.0/32", "127.0.0.1/32"]);
});

test("the shipped etc/portsentry.ignore parses", () => {
  const l = list(read("etc/portsentry.ignore"));
  assert.deepEqual(l.prefixes().map(formatPrefix).sort(), ["0.0.0.0/32", "127.0.0.1/32", "::1/128"]);
  assert.ok(l.matches("::1"));
});

test("forms: IP, IP/bits, IP/dotted.netmask, IPv6; comments, whitespace, CRLF", () => {
  const text = [
    "# leading comment",
    "192.0.2.7",
    "  198.51.100.0/24   # trailing comment",
    "\t203.0.113.0/255.255.255.128\t",
    "2001:db8:1::/48",
    "2001:DB8:2::5#no space before the comment",
    "",
    "   ",
  ].join("\r\n");
  const l = list(text);
  assert.equal(l.size, 5);
  assert.ok(l.matches("192.0.2.7") && !l.matches("192.0.2.8"));
  assert.ok(l.matches("198.51.100.255"));
  assert.ok(l.matches("203.0.113.127") && !l.matches("203.0.113.128"));
  assert.ok(l.matches("2001:db8:1:ffff::1") && !l.matches("2001:db8:2::1"));
  assert.ok(l.matches("2001:db8:2::5"));
  const all = list("10.0.0.0/0.0.0.0");
  assert.ok(all.matches("192.0.2.1"), "a /0 netmask covers all of IPv4");
  assert.ok(!all.matches("2001:db9::1"), "but not IPv6");
});

test("both sides are masked: 192.168.1.5/24 matches 192.168.1.77 (2.x never did)", () => {
  const l = list("192.168.1.5/24\n2001:db8::ffff/64");
  assert.ok(l.matches("192.168.1.77"));
  assert.ok(l.matches("192.168.1.0"));
  assert.ok(!l.matches("192.168.2.77"));
  assert.ok(l.matches("2001:db8::1234:5678"));
  assert.ok(!l.matches("2001:db8:0:1::1"));
  assert.deepEqual(l.prefixes().map(formatPrefix), ["192.168.1.0/24", "2001:db8::/64"]);
});

test("IPv4-mapped IPv6 addresses and entries are treated as IPv4", () => {
  const l = list("192.0.2.0/24\n::ffff:198.51.100.0/120");
  assert.ok(l.matches("::ffff:192.0.2.9"));
  assert.ok(l.matches("198.51.100.200"));
  assert.equal(formatPrefix(l.match("198.51.100.200")!), "198.51.100.0/24");
});

test("non-byte-aligned prefix lengths, IPv4 and IPv6", () => {
  const l = list("192.0.2.64/27\n2001:db8:8000::/33");
  assert.ok(l.matches("192.0.2.95") && !l.matches("192.0.2.96") && !l.matches("192.0.2.63"));
  assert.ok(l.matches("2001:db8:ffff::1") && !l.matches("2001:db8:7fff::1"));
});

test("bad lines are errors with file and line; all reported at once", () => {
  const text = [
    "192.0.2.1",
    "192.0.2.300",
    "192.0.2.0/33",
    "192.0.2.0/255.0.255.0",
    "2001:db8::/129",
    "2001:db8::/ffff::",
    "example.com",
    "fe80::1%eth0",
    "[::1]",
    "192.168.01.1",
    "192.0.2.1 192.0.2.2",
    "/24",
    "192.0.2.0/",
    "nul\0",
  ].join("\n");
  assert.deepEqual(messages(text), [
    'portsentry.ignore:2: "192.0.2.300" is not an IPv4 or IPv6 address',
    "portsentry.ignore:3: /33 is not a prefix length for IPv4 (0-32)",
    'portsentry.ignore:4: "255.0.255.0" is not a netmask (contiguous ones, like 255.255.255.0)',
    "portsentry.ignore:5: /129 is not a prefix length for IPv6 (0-128)",
    'portsentry.ignore:6: "ffff::" after "/" is not a prefix length (0-128)',
    'portsentry.ignore:7: "example.com" is not an address: host names are not resolved; write the address',
    'portsentry.ignore:8: "fe80::1%eth0" is not an address: zone indexes (%eth0) are not allowed',
    'portsentry.ignore:9: "[::1]" is not an address: write IPv6 without brackets',
    'portsentry.ignore:10: "192.168.01.1" is not an address: leading zeros are refused (octal or decimal?)',
    'portsentry.ignore:11: one entry a line: "192.0.2.1 192.0.2.2" has spaces in it',
    "portsentry.ignore:12: missing address before '/'",
    'portsentry.ignore:13: "" after "/" is not a prefix length (0-32) or a netmask',
    "portsentry.ignore:14: contains a NUL byte (binary file?)",
  ]);
});

test("add, addLoopback, size and de-duplication", () => {
  const l = new IgnoreList();
  assert.equal(l.size, 0);
  assert.ok(!l.matches("127.0.0.1"));
  l.addLoopback();
  assert.equal(l.size, 2);
  assert.ok(l.matches("127.255.0.1") && l.matches("::1") && !l.matches("::2"));
  assert.equal(l.add(parseIp("192.0.2.10")!), true);
  assert.equal(l.add(parseIp("192.0.2.10")!), false, "already there");
  assert.equal(l.add(parseIp("2001:db8::1")!, 64), true);
  assert.equal(l.add(parseIp("2001:db8::2")!, 64), false, "same network once masked");
  assert.equal(l.size, 4);
  assert.ok(l.matches(parseIp("2001:db8::abcd")!));
  assert.ok(!l.matches("not an address"));
  assert.ok(!l.matches({ family: 4, bytes: new Uint8Array(3) }), "malformed bytes never match");
});

test("networks added after the index is built are matched (pending list, then rebuild)", () => {
  const l = list("192.0.2.0/24");
  assert.ok(!l.matches("198.51.100.1"));
  for (let i = 0; i < 200; i++) l.add(parseIp(`198.51.100.${i}`)!);
  l.add(parseIp("2001:db8::1")!);
  assert.ok(l.matches("198.51.100.1") && l.matches("198.51.100.199") && !l.matches("198.51.100.200"));
  assert.ok(l.matches("2001:db8::1") && l.matches("192.0.2.9"));
  l.prepare();
  assert.ok(l.matches("198.51.100.150") && !l.matches("198.51.100.250"));
  assert.equal(l.size, 202);
});

test("match returns the most specific network", () => {
  const l = list("10.0.0.0/8\n10.1.0.0/16\n10.1.2.3\n::/0\n2001:db8::/32");
  assert.equal(formatPrefix(l.match("10.1.2.3")!), "10.1.2.3/32");
  assert.equal(formatPrefix(l.match("10.1.9.9")!), "10.1.0.0/16");
  assert.equal(formatPrefix(l.match("10.9.9.9")!), "10.0.0.0/8");
  assert.equal(formatPrefix(l.match("2001:db8::1")!), "2001:db8::/32");
  assert.equal(formatPrefix(l.match("2001:db9::1")!), "::/0");
  assert.equal(l.match("11.0.0.1"), undefined);
});

test("parsePrefix masks host bits and keeps the length", () => {
  const r = parsePrefix("192.0.2.255/25");
  assert.ok(r.ok);
  assert.equal(formatPrefix(r.prefix), "192.0.2.128/25");
  const n = parsePrefix("192.0.2.1/255.255.255.0");
  assert.ok(n.ok);
  assert.equal(n.prefix.bits, 24);
});

test("hostile: a 100 000-line ignore file parses and matches quickly", (t) => {
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const a = (i * 2654435761) >>> 0; // spread over the address space
    const bits = 16 + (i % 17); // 17 distinct lengths
    lines.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${bits}  # entry ${i}`);
  }
  for (let i = 0; i < 1000; i++) lines.push(`2001:db8:${i.toString(16)}::/48`);
  const text = lines.join("\n");
  let started = performance.now();
  const l = list(text);
  const parseMs = performance.now() - started;
  assert.ok(l.size > 90_000);
  const probes = 200_000;
  const addrs = Array.from({ length: 1024 }, (_, i) => {
    const a = (i * 40503 * 65537 + 12345) >>> 0;
    return parseIp(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`)!;
  });
  let hits = 0;
  started = performance.now();
  for (let i = 0; i < probes; i++) if (l.matches(addrs[i & 1023]!)) hits++;
  const matchMs = performance.now() - started;
  t.diagnostic(
    `parse 101000 lines: ${parseMs.toFixed(0)} ms; ${probes} lookups: ${matchMs.toFixed(0)} ms ` +
      `(${((matchMs * 1000) / probes).toFixed(3)} µs each, ${hits} hits)`,
  );
  assert.ok(l.matches("2001:db8:3e7::1"));
  assert.ok(parseMs < 3000, `parse took ${parseMs.toFixed(0)} ms`);
  assert.ok(matchMs < 2000, `lookups took ${matchMs.toFixed(0)} ms`);
});

test("hostile: a 10 MB line and binary junk are errors, never exceptions", () => {
  const huge = `192.0.2.1${" ".repeat(10_000_000)}`;
  assert.deepEqual(messages(`192.0.2.1\n${huge}\n`), [
    `portsentry.ignore:2: line is too long (${huge.length} characters, at most 65536)`,
  ]);
  const junk = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 10, 0xff, 0xfe, 0x80, 10]).toString("latin1");
  const r = parseIgnoreList(junk, "portsentry.ignore");
  assert.equal(r.ok, false);
});
