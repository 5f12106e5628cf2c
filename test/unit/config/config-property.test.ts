import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { formatPrefix, IgnoreList, type IpPrefix, parseIgnoreList } from "../../../src/config/ignore.js";
import { CONFIG_KEY_NAMES } from "../../../src/config/keys.js";
import { formatEffectiveConfig } from "../../../src/config/load.js";
import { parseConfig } from "../../../src/config/parse-conf.js";
import { formatIp, type IpBytes } from "../../../src/decode/address.js";

const RUNS = 500;

/** Lines made of the tokens a config or ignore file is made of, in any order. */
const tokenLine = fc
  .array(
    fc.oneof(
      fc.constantFrom(...CONFIG_KEY_NAMES),
      fc.constantFrom(
        '"',
        "=",
        " = ",
        "#",
        ",",
        "-",
        "/",
        ".",
        ":",
        "::",
        " ",
        "\t",
        "\r",
        "\0",
        "$TARGET$",
        "$",
      ),
      fc.nat({ max: 70_000 }).map(String),
      fc.constantFrom("0", "1", "2", "24h", "nftables", "daemon", "192.0.2.1", "2001:db8::", "255.255.255.0"),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 12 },
  )
  .map((tokens) => tokens.join(""));
const tokenFile = fc.array(tokenLine, { maxLength: 30 }).map((lines) => lines.join("\n"));

test("property: parseConfig never throws, on arbitrary strings and on token soup", () => {
  const check = (text: string) => {
    const r = parseConfig(text, "p.conf");
    if (!r.ok) {
      assert.ok(r.errors.length > 0 && r.errors.length <= 101);
      for (const e of r.errors) assert.equal(typeof e.message, "string");
    }
  };
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 400 }), check), { numRuns: RUNS });
  fc.assert(fc.property(tokenFile, check), { numRuns: RUNS * 4 });
});

const portList = fc
  .array(
    fc.oneof(fc.integer({ min: 1, max: 65_535 }).map(String), fc.constant("32770-32774"), fc.constant("1-3")),
    {
      maxLength: 8,
    },
  )
  .map((items) => items.join(","));
/** Valid values for each key (not all of them: enough to vary every field). */
const VALID: Record<string, fc.Arbitrary<string>> = {
  TCP_PORTS: portList,
  UDP_PORTS: portList,
  ADVANCED_PORTS_TCP: fc.integer({ min: 1, max: 65_535 }).map(String),
  ADVANCED_PORTS_UDP: fc.integer({ min: 1, max: 65_535 }).map(String),
  ADVANCED_EXCLUDE_TCP: portList,
  ADVANCED_EXCLUDE_UDP: portList,
  IGNORE_FILE: fc.constantFrom("/etc/portsentry/portsentry.ignore", "ignore", "../x/./y"),
  HISTORY_FILE: fc.constantFrom("/var/h", "h"),
  BLOCKED_FILE: fc.constantFrom("/var/b", "b"),
  RESOLVE_HOST: fc.constantFrom("0", "1"),
  BLOCK_UDP: fc.constantFrom("0", "1", "2"),
  BLOCK_TCP: fc.constantFrom("0", "1", "2"),
  KILL_ROUTE: fc.constantFrom("", "/sbin/ip route add blackhole $TARGET$"),
  KILL_HOSTS_DENY: fc.constantFrom("", "ALL: $TARGET$", "ALL: $TARGET$ : DENY"),
  KILL_RUN_CMD_FIRST: fc.constantFrom("0", "1"),
  KILL_RUN_CMD: fc.constantFrom("", "/bin/page $TARGET$ $PORT$ $MODE$"),
  SCAN_TRIGGER: fc.integer({ min: 0, max: 1000 }).map(String),
  PORT_BANNER: fc
    .string({ maxLength: 20 })
    .map((t) =>
      [...t].filter((ch) => ch !== '"' && ch.charCodeAt(0) >= 32 && ch.charCodeAt(0) !== 127).join(""),
    ),
  WRAPPER_HOSTS_DENY: fc.constantFrom("/etc/hosts.deny", "deny"),
  SYSLOG_FACILITY: fc.constantFrom("daemon", "auth", "local0", "local7"),
  SYSLOG_LEVEL: fc.constantFrom("notice", "info", "debug", "emerg"),
  SYSLOG_SOCKET: fc.constantFrom("/dev/log", "run/log.sock"),
  KILL_FIREWALL: fc.constantFrom("nftables", "iptables", "ipset", "none"),
  BLOCK_TIMEOUT: fc.oneof(
    fc.integer({ min: 0, max: 10_000_000 }).map(String),
    fc.constantFrom("45s", "30m", "12h", "7d"),
  ),
  STATE_DIR: fc.constantFrom("/var/lib/portsentry", "state"),
  KERNEL_TRAP: fc.constantFrom("0", "1"),
  KILL_ROUTE_UNDO: fc.constantFrom("", "/sbin/route del -host $TARGET$ reject"),
  BLOCK_TIMEOUT_GROWTH: fc.integer({ min: 1, max: 16 }).map(String),
  BLOCK_TIMEOUT_MAX: fc.constantFrom("0", "30d", "3600"),
  MAX_BLOCKS_PER_MINUTE: fc.integer({ min: 0, max: 100000 }).map(String),
  TRIGGER_WINDOW: fc.constantFrom("10m", "60", "1h"),
  LISTEN_GRACE: fc.constantFrom("10m", "0", "90s"),
  PROBATION_TIMEOUT: fc.constantFrom("10m", "0", "45s"),
  DETECT_ACK_SCANS: fc.constantFrom("0", "1"),
  // Loopback only: another address needs METRICS_LISTEN_PUBLIC (a check across keys).
  METRICS_LISTEN: fc.constantFrom("", "127.0.0.1:9871", "[::1]:1"),
  METRICS_LISTEN_PUBLIC: fc.constantFrom("0", "1"),
  // The file and TLS keys need FLEET_URL (checks across keys): empty here, tested in fleet-config.
  FLEET_URL: fc.constantFrom(
    "",
    "redis://127.0.0.1:6379/0",
    "rediss://[2001:db8::1]:6380/2",
    "redis://redis.example",
  ),
  FLEET_NAME: fc.constantFrom("portsentry", "web-farm.1"),
  FLEET_USER: fc.constantFrom("", "member"),
  FLEET_MEMBER: fc.constantFrom("", "web-1"),
  FLEET_SHARE: fc.constantFrom("0", "1"),
  FLEET_SCAN_TRIGGER: fc.integer({ min: 0, max: 1000 }).map(String),
  FLEET_TRIGGER_WINDOW: fc.constantFrom("10m", "60", "1h"),
  FLEET_PASSWORD_FILE: fc.constant(""),
  FLEET_TLS_CA: fc.constant(""),
  FLEET_TLS_CERT: fc.constant(""),
  FLEET_TLS_KEY: fc.constant(""),
};
const validFile = fc
  .tuple(
    fc
      .subarray([...CONFIG_KEY_NAMES])
      .chain((keys) =>
        fc.tuple(...keys.map((k) => VALID[k]!.map((v) => [k, v] as const))).map((pairs) => [...pairs]),
      ),
    fc.constantFrom("=", " = ", "\t=  "),
    fc.constantFrom("\n", "\r\n", "\n# comment\n\n"),
  )
  .map(([pairs, eq, nl]) => {
    // KERNEL_TRAP="1" is valid only with KILL_FIREWALL="nftables".
    const nft = pairs.some(([k, v]) => k === "KILL_FIREWALL" && v === "nftables");
    const fixed = pairs.map(([k, v]) => [k, k === "KERNEL_TRAP" && !nft ? "0" : v] as const);
    return fixed.map(([k, v]) => `${k}${eq}"${v}"`).join(nl);
  });

test("property: a valid config parses, and prints and re-parses to the same Config", () => {
  fc.assert(
    fc.property(validFile, (text) => {
      const r = parseConfig(text, "/etc/p.conf");
      assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
      const again = parseConfig(formatEffectiveConfig(r.value), "/etc/p.conf");
      assert.ok(again.ok);
      assert.deepEqual(again.value, r.value);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("property: parseIgnoreList never throws, on arbitrary strings and on token soup", () => {
  const check = (text: string) => {
    parseIgnoreList(text, "p.ignore");
  };
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 400 }), check), { numRuns: RUNS });
  fc.assert(fc.property(tokenFile, check), { numRuns: RUNS * 4 });
});

let overlaps = 0;

/** The reference: compare the first `bits` bits, one bit at a time. */
function naiveContains(p: IpPrefix, ip: IpBytes): boolean {
  if (p.family !== ip.family) return false;
  for (let i = 0; i < p.bits; i++) {
    const bit = (b: Uint8Array) => (b[i >> 3]! >> (7 - (i & 7))) & 1;
    if (bit(p.bytes) !== bit(ip.bytes)) return false;
  }
  return true;
}

/** Addresses near each other, so that random prefixes and addresses actually overlap. */
const address = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(10, 192, 203),
      fc.constantFrom(0, 1, 255),
      fc.nat({ max: 3 }),
      fc.nat({ max: 255 }),
    )
    .map(([a, b, c, d]): IpBytes => ({ family: 4, bytes: Uint8Array.of(a, b, c, d) })),
  fc
    .tuple(fc.constantFrom(0x20, 0xfe), fc.nat({ max: 3 }), fc.uint8Array({ minLength: 14, maxLength: 14 }))
    .map(([a, b, rest]): IpBytes => {
      const bytes = new Uint8Array(16);
      bytes[0] = a;
      bytes[1] = b;
      bytes.set(
        rest.map((x) => x & 0x81),
        2,
      ); // few distinct values
      return { family: 6, bytes };
    }),
);
const prefix = fc
  .tuple(address, fc.nat({ max: 128 }))
  .map(
    ([ip, n]): IpPrefix => ({ family: ip.family, bytes: ip.bytes, bits: n % (ip.family === 4 ? 33 : 129) }),
  );

test("property: the matcher agrees with a naive bit-by-bit reference", () => {
  fc.assert(
    fc.property(
      fc.array(prefix, { maxLength: 40 }),
      fc.array(address, { maxLength: 40 }),
      (prefixes, addrs) => {
        const viaText = parseIgnoreList(
          prefixes.map((p) => `${formatIp(p)}/${p.bits}`).join("\n"),
          "p.ignore",
        );
        assert.ok(viaText.ok);
        const direct = new IgnoreList();
        for (const p of prefixes) direct.addPrefix(p);
        // Built index first, then late additions (the daemon's own addresses): the pending path.
        const late = new IgnoreList();
        const half = prefixes.length >> 1;
        for (const p of prefixes.slice(0, half)) late.addPrefix(p);
        late.prepare();
        for (const p of prefixes.slice(half)) late.addPrefix(p);
        for (const ip of [...addrs, ...prefixes]) {
          const want = prefixes.some((p) => naiveContains(p, ip));
          if (want) overlaps++;
          assert.equal(
            direct.matches(ip),
            want,
            `${formatIp(ip)} in ${prefixes.map(formatPrefix).join(" ")}`,
          );
          assert.equal(viaText.value.matches(ip), want);
          assert.equal(late.matches(ip), want);
          const m = direct.match(ip);
          if (want) {
            const longest = Math.max(...prefixes.filter((p) => naiveContains(p, ip)).map((p) => p.bits));
            assert.equal(m?.bits, longest);
          }
        }
        assert.equal(direct.prefixes().length, direct.size);
      },
    ),
    { numRuns: RUNS * 2 },
  );
  assert.ok(overlaps > 1000, `the generators produce overlaps (${overlaps})`);
});
