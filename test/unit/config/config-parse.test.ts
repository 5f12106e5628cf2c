import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { changedConfigKeys } from "../../../src/config/diff.js";
import { CONFIG_KEYS, type ConfigDraft } from "../../../src/config/keys.js";
import { MAX_ERRORS } from "../../../src/config/lines.js";
import { formatEffectiveConfig } from "../../../src/config/load.js";
import { parseConfig } from "../../../src/config/parse-conf.js";
import { type Config, type ConfigError, formatConfigError } from "../../../src/config/types.js";

/** Repository root, from dist/test/unit/config/. */
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const read = (rel: string): string => readFileSync(`${ROOT}${rel}`, "utf8");

function ok(text: string, file = "portsentry.conf"): Config {
  const r = parseConfig(text, file);
  if (!r.ok) assert.fail(r.errors.map(formatConfigError).join("\n"));
  return r.value;
}

function errors(text: string, file = "portsentry.conf"): readonly ConfigError[] {
  const r = parseConfig(text, file);
  assert.equal(r.ok, false, `expected errors for ${JSON.stringify(text.slice(0, 80))}`);
  return r.ok ? [] : r.errors;
}

function messages(text: string): string[] {
  return errors(text).map(formatConfigError);
}

test("the 1.2 reference portsentry.conf parses, comments and commented-out examples included", () => {
  const c = ok(read("test/fixtures/portsentry-1.2.conf"), "/usr/local/psionic/portsentry/portsentry.conf");
  assert.equal(c.tcpPorts.length, 26);
  assert.deepEqual(c.tcpPorts.slice(0, 4), [1, 11, 15, 79]);
  assert.equal(c.tcpPorts.at(-1), 54320);
  assert.deepEqual(c.udpPorts.slice(0, 3), [1, 7, 9]);
  assert.equal(c.udpPorts.length, 21);
  assert.equal(c.advancedPortsTcp, 1024);
  assert.deepEqual(c.advancedExcludeTcp, [113, 139]);
  assert.deepEqual(c.advancedExcludeUdp, [67, 137, 138, 520]);
  assert.equal(c.ignoreFile, "/usr/local/psionic/portsentry/portsentry.ignore");
  assert.equal(c.resolveHost, true, 'RESOLVE_HOST = "1" (spaces around =)');
  assert.equal(c.blockTcp, 1);
  assert.equal(c.blockUdp, 1);
  assert.equal(c.killRoute, undefined, "every KILL_ROUTE is commented out");
  assert.equal(c.killHostsDeny, "ALL: $TARGET$");
  assert.equal(c.killRunCmd, undefined);
  assert.equal(c.scanTrigger, 0);
  assert.equal(c.portBanner, undefined);
  // Keys 1.2 did not have keep their absent (1.2) behaviour.
  assert.equal(c.killFirewall, "none");
  assert.equal(c.blockTimeoutSec, 0);
  assert.equal(c.kernelTrap, false);
  assert.equal(c.syslogFacility, "daemon");
  assert.equal(c.syslogLevel, "notice");
});

test("the shipped etc/portsentry.conf parses and sets exactly the table's shipped values", () => {
  const file = `${ROOT}etc/portsentry.conf`;
  const text = read("etc/portsentry.conf");
  const c = ok(text, file);
  const shipped = ok(CONFIG_KEYS.map((k) => `${k.key}="${k.shipped}"`).join("\n"), file);
  assert.deepEqual(c, shipped);
  assert.equal(
    c.ignoreFile,
    `${ROOT}etc/portsentry.ignore`,
    "IGNORE_FILE is relative to the config's directory",
  );
  assert.equal(c.killFirewall, "nftables");
  assert.equal(c.blockTimeoutSec, 24 * 3600);
  assert.equal(c.kernelTrap, true);
  assert.equal(c.historyFile, "/var/lib/portsentry/portsentry.history");
  // Every key appears, set or (when the shipped value is the absent one) commented out as documentation.
  for (const k of CONFIG_KEYS) {
    const set = new RegExp(`^${k.key} ?= ?"`, "m").test(text);
    const commented = new RegExp(`^#${k.key} ?= ?"`, "m").test(text);
    assert.ok(set || (commented && k.shipped === k.absent), `${k.key} in etc/portsentry.conf`);
  }
});

test("an empty file gives every key its absent value; the table covers every Config field once", () => {
  const c = ok("");
  assert.deepEqual(Object.keys(c).sort(), ["file", ...fieldsOfTable()].sort());
  assert.deepEqual(c.tcpPorts, []);
  assert.equal(c.blockTcp, 0, "1.2 initialised BLOCK_* to 0 when absent");
  assert.equal(c.advancedPortsUdp, 1024);
  assert.equal(c.killHostsDeny, undefined, "absent KILL_HOSTS_DENY: no hosts.deny step, as in 1.2");
  assert.equal(c.ignoreFile, "/etc/portsentry/portsentry.ignore");
  assert.equal(c.stateDir, "/var/lib/portsentry");
  assert.equal(c.wrapperHostsDeny, "/etc/hosts.deny");
  for (const k of CONFIG_KEYS) assert.equal(k.show(c), k.absent, `${k.key} absent value round-trips`);
});

function fieldsOfTable(): string[] {
  const fields: string[] = [];
  for (const k of CONFIG_KEYS) {
    const draft = {} as ConfigDraft;
    assert.equal(k.apply(draft, k.absent, { baseDir: "/" }), undefined, k.key);
    const set = Object.keys(draft);
    assert.equal(set.length, 1, `${k.key} sets one field`);
    fields.push(set[0]!);
  }
  assert.equal(new Set(fields).size, fields.length, "no field is set by two keys");
  return fields;
}

test("the error format is FILE:LINE: KEY: message", () => {
  assert.deepEqual(messages('TCP_PORTS="1,70000"'), [
    "portsentry.conf:1: TCP_PORTS: 70000 is not a port (1-65535)",
  ]);
  assert.equal(
    formatConfigError({ file: "/etc/x.conf", line: 0, key: undefined, message: "cannot read" }),
    "/etc/x.conf: cannot read",
  );
});

test("every problem is reported at once, in line order", () => {
  const text = [
    "# comment",
    'TCP_PORTS="1,2,x"',
    'UDP_PORTS="0"',
    "",
    'SCAN_TRIGGER="-1"',
    'BLOCK_TCP="3"',
    'KILL_ROUTE="/sbin/route add -host 1.2.3.4 reject"',
    'BLOCK_TIMEOUT="12x"',
    'SYSLOG_LEVEL="loud"',
  ].join("\n");
  const errs = errors(text);
  assert.deepEqual(
    errs.map((e) => [e.line, e.key]),
    [
      [2, "TCP_PORTS"],
      [3, "UDP_PORTS"],
      [5, "SCAN_TRIGGER"],
      [6, "BLOCK_TCP"],
      [7, "KILL_ROUTE"],
      [8, "BLOCK_TIMEOUT"],
      [9, "SYSLOG_LEVEL"],
    ],
  );
  for (const e of errs) assert.equal(e.file, "portsentry.conf");
});

test("unknown keys are errors, with 'did you mean' when close to a known key", () => {
  assert.deepEqual(messages('TCP_PORT="1"'), [
    "portsentry.conf:1: TCP_PORT: unknown key; did you mean TCP_PORTS?",
  ]);
  assert.deepEqual(messages('tcp_ports="1"'), [
    "portsentry.conf:1: tcp_ports: unknown key; did you mean TCP_PORTS? (keys are upper case)",
  ]);
  assert.deepEqual(messages('KILL_HOST_DENY="ALL: $TARGET$"'), [
    "portsentry.conf:1: KILL_HOST_DENY: unknown key; did you mean KILL_HOSTS_DENY?",
  ]);
  assert.deepEqual(messages('BLOCK_TPC="1"'), [
    "portsentry.conf:1: BLOCK_TPC: unknown key; did you mean BLOCK_TCP?",
  ]);
  assert.deepEqual(messages('FOO="1"'), [
    "portsentry.conf:1: FOO: unknown key; see docs/configuration.md for the keys",
  ]);
  // An unknown key is reported as such even when its value is malformed too.
  assert.deepEqual(messages("FOO=1"), [
    "portsentry.conf:1: FOO: unknown key; see docs/configuration.md for the keys",
  ]);
});

test("KILL_ROUTE and KILL_HOSTS_DENY without $TARGET$ are refused; unknown macros too", () => {
  assert.deepEqual(messages('KILL_ROUTE="/sbin/route add -host 192.0.2.1 reject"'), [
    "portsentry.conf:1: KILL_ROUTE: must contain $TARGET$ (the attacker's address is substituted there)",
  ]);
  assert.deepEqual(messages('KILL_HOSTS_DENY="ALL: 192.0.2.1"'), [
    "portsentry.conf:1: KILL_HOSTS_DENY: must contain $TARGET$ (the attacker's address is substituted there)",
  ]);
  assert.deepEqual(messages('KILL_RUN_CMD="/bin/page $TARGTE$"'), [
    "portsentry.conf:1: KILL_RUN_CMD: unknown macro $TARGTE$; did you mean $TARGET$?",
  ]);
  assert.equal(
    ok('KILL_RUN_CMD="/usr/local/bin/page $PORT$ $MODE$"').killRunCmd,
    "/usr/local/bin/page $PORT$ $MODE$",
  );
  assert.equal(
    ok('KILL_ROUTE="/sbin/ip route add blackhole $TARGET$"').killRoute,
    "/sbin/ip route add blackhole $TARGET$",
  );
  assert.equal(ok('KILL_ROUTE=""').killRoute, undefined, '"" means not set');
});

test("syntax: spaces around =, leading whitespace, trailing comment, tabs, CRLF, BOM", () => {
  const lf = ok('RESOLVE_HOST = "1"\n  SCAN_TRIGGER\t=\t"2"   # after the quote\nBLOCK_UDP="2"\n');
  assert.equal(lf.resolveHost, true);
  assert.equal(lf.scanTrigger, 2);
  assert.equal(lf.blockUdp, 2);
  const crlf = ok('RESOLVE_HOST = "1"\r\n  SCAN_TRIGGER\t=\t"2"   # after the quote\r\nBLOCK_UDP="2"\r\n');
  assert.deepEqual(crlf, lf);
  assert.deepEqual(ok('\uFEFFRESOLVE_HOST="1"').resolveHost, true);
  assert.deepEqual(messages('BLOCK_UDP="2"\r\nBLOCK_TCP="x"\r\n'), [
    'portsentry.conf:2: BLOCK_TCP: "x" is not 0 (log only), 1 (block) or 2 (run KILL_RUN_CMD only)',
  ]);
});

test("syntax errors: missing quotes, missing =, junk after the value, stray lines", () => {
  assert.deepEqual(messages('SCAN_TRIGGER="1'), [
    "portsentry.conf:1: SCAN_TRIGGER: missing closing double quote",
  ]);
  assert.deepEqual(messages("SCAN_TRIGGER=1"), [
    'portsentry.conf:1: SCAN_TRIGGER: the value must be in double quotes: SCAN_TRIGGER="1"',
  ]);
  assert.deepEqual(messages('SCAN_TRIGGER "1"'), [
    'portsentry.conf:1: SCAN_TRIGGER: missing "=" after the key; write SCAN_TRIGGER="value"',
  ]);
  assert.deepEqual(messages('SCAN_TRIGGER="1" 2'), [
    'portsentry.conf:1: SCAN_TRIGGER: unexpected text after the closing quote: "2" (a comment starts with #)',
  ]);
  assert.deepEqual(messages('PORT_BANNER="say "hi""'), [
    `portsentry.conf:1: PORT_BANNER: unexpected text after the closing quote: "hi\\"\\"" (a value cannot contain '"')`,
  ]);
  assert.deepEqual(messages("just some words"), [
    'portsentry.conf:1: not a setting: "just some words"; expected KEY="value" or a # comment',
  ]);
});

test("a key set twice is an error naming the first line", () => {
  assert.deepEqual(messages('SCAN_TRIGGER="1"\n#\nSCAN_TRIGGER="2"'), [
    "portsentry.conf:3: SCAN_TRIGGER: set again (first set on line 1); keep one of the two",
  ]);
});

test("port lists: ranges, duplicates removed, sorted, spaces tolerated, bad entries refused", () => {
  assert.deepEqual(ok('TCP_PORTS="80, 1-3,2,65535,80"').tcpPorts, [1, 2, 3, 80, 65535]);
  assert.deepEqual(ok('TCP_PORTS=""').tcpPorts, []);
  assert.equal(ok('UDP_PORTS="1-65535"').udpPorts.length, 65535);
  assert.deepEqual(ok('ADVANCED_EXCLUDE_TCP="113,139,6000-6010"').advancedExcludeTcp.length, 13);
  const bad: [string, string][] = [
    ["0", "0 is not a port (1-65535)"],
    ["70000", "70000 is not a port (1-65535)"],
    ["1,,2", "empty entry at position 2 (two commas in a row, or a comma at an end)"],
    ["1,", "empty entry at position 2 (two commas in a row, or a comma at an end)"],
    ["10-5", "10-5 is not a range (the first port must be <= the second)"],
    ["5-", "5-: missing port number"],
    ["a-5", "a-5: a is not a port (1-65535)"],
    ["1-2-3", "1-2-3: 2-3 is not a port (1-65535)"],
    ["-1", "-1: missing port number"],
    ["+1", "+1 is not a port (1-65535)"],
    ["0x50", "0x50 is not a port (1-65535)"],
    ["99999999999999999999", "99999999999999999999 is not a port (1-65535)"],
  ];
  for (const [value, message] of bad) {
    assert.deepEqual(messages(`UDP_PORTS="${value}"`), [`portsentry.conf:1: UDP_PORTS: ${message}`], value);
  }
});

test("every key: good values", () => {
  const good: [string, string, keyof Config, unknown][] = [
    ["ADVANCED_PORTS_TCP", "1", "advancedPortsTcp", 1],
    ["ADVANCED_PORTS_UDP", "65535", "advancedPortsUdp", 65535],
    ["ADVANCED_PORTS_TCP", " 2048 ", "advancedPortsTcp", 2048],
    ["IGNORE_FILE", "/etc/ps/ignore", "ignoreFile", "/etc/ps/ignore"],
    ["HISTORY_FILE", "/var/lib/x/../y//h", "historyFile", "/var/lib/y/h"],
    ["BLOCKED_FILE", "/b", "blockedFile", "/b"],
    ["RESOLVE_HOST", "0", "resolveHost", false],
    ["BLOCK_TCP", "0", "blockTcp", 0],
    ["BLOCK_UDP", "2", "blockUdp", 2],
    ["KILL_HOSTS_DENY", "ALL: $TARGET$ : DENY", "killHostsDeny", "ALL: $TARGET$ : DENY"],
    ["KILL_RUN_CMD_FIRST", "1", "killRunCmdFirst", true],
    ["KILL_RUN_CMD", "/bin/true", "killRunCmd", "/bin/true"],
    ["SCAN_TRIGGER", "1000", "scanTrigger", 1000],
    ["SCAN_TRIGGER", "007", "scanTrigger", 7],
    ["PORT_BANNER", " ** GO AWAY ** ", "portBanner", " ** GO AWAY ** "],
    ["WRAPPER_HOSTS_DENY", "/etc/hosts.deny.test", "wrapperHostsDeny", "/etc/hosts.deny.test"],
    ["SYSLOG_FACILITY", "local7", "syslogFacility", "local7"],
    ["SYSLOG_FACILITY", "authpriv", "syslogFacility", "authpriv"],
    ["SYSLOG_LEVEL", "debug", "syslogLevel", "debug"],
    ["KILL_FIREWALL", "iptables", "killFirewall", "iptables"],
    ["KILL_FIREWALL", "ipset", "killFirewall", "ipset"],
    ["KILL_FIREWALL", "none", "killFirewall", "none"],
    ["BLOCK_TIMEOUT", "0", "blockTimeoutSec", 0],
    ["BLOCK_TIMEOUT", "90", "blockTimeoutSec", 90],
    ["BLOCK_TIMEOUT", "45s", "blockTimeoutSec", 45],
    ["BLOCK_TIMEOUT", "30m", "blockTimeoutSec", 1800],
    ["BLOCK_TIMEOUT", "12h", "blockTimeoutSec", 43200],
    ["BLOCK_TIMEOUT", "7d", "blockTimeoutSec", 604800],
    ["BLOCK_TIMEOUT", "3650d", "blockTimeoutSec", 3650 * 86400],
    ["STATE_DIR", "/run/ps", "stateDir", "/run/ps"],
    ["KERNEL_TRAP", "0", "kernelTrap", false],
  ];
  for (const [key, value, field, want] of good) {
    assert.deepEqual(ok(`${key}="${value}"`)[field], want, `${key}="${value}"`);
  }
  assert.equal(ok('KILL_FIREWALL="nftables"\nKERNEL_TRAP="1"').kernelTrap, true);
});

test("every key: bad values, with hints", () => {
  const bad: [string, string, string][] = [
    ["ADVANCED_PORTS_TCP", "0", "0 is out of range (1-65535)"],
    ["ADVANCED_PORTS_UDP", "65536", "65536 is out of range (1-65535)"],
    ["ADVANCED_PORTS_TCP", "", "empty value; expected a port (1-65535)"],
    ["ADVANCED_PORTS_TCP", "1k", "1k is not a port (1-65535, decimal digits only)"],
    ["IGNORE_FILE", "", "empty path"],
    ["STATE_DIR", "  ", "empty path"],
    ["RESOLVE_HOST", "yes", 'yes is not "0" or "1" (1.2 treated anything but "1" as off; write "0")'],
    ["BLOCK_UDP", "-1", '"-1" is not 0 (log only), 1 (block) or 2 (run KILL_RUN_CMD only)'],
    ["KILL_RUN_CMD_FIRST", "2", '2 is not "0" or "1"'],
    ["SCAN_TRIGGER", "1001", "1001 is out of range (0-1000)"],
    ["SCAN_TRIGGER", "1.5", "1.5 is not a number (0-1000, decimal digits only)"],
    ["SYSLOG_FACILITY", "LOG_DAEMON", '"LOG_DAEMON" is not a syslog facility name; did you mean daemon?'],
    ["SYSLOG_FACILITY", "deamon", '"deamon" is not a syslog facility name; did you mean daemon?'],
    ["SYSLOG_LEVEL", "warn", '"warn" is not a syslog level name; did you mean warning?'],
    [
      "SYSLOG_LEVEL",
      "loud",
      '"loud" is not a syslog level name (one of emerg, alert, crit, err, warning, notice, info, debug)',
    ],
    ["KILL_FIREWALL", "nft", "nft is not one of nftables, iptables, ipset, none"],
    [
      "KILL_FIREWALL",
      "iptable",
      "iptable is not one of nftables, iptables, ipset, none; did you mean iptables?",
    ],
    ["BLOCK_TIMEOUT", "1w", '1w: unknown unit "w" (use s, m, h or d, lower case)'],
    ["BLOCK_TIMEOUT", "12H", '12H: unknown unit "H" (use s, m, h or d, lower case)'],
    [
      "BLOCK_TIMEOUT",
      "1h30m",
      "1h30m is not a duration (seconds, or a number followed by s, m, h or d: 30m, 12h, 7d)",
    ],
    ["BLOCK_TIMEOUT", "3651d", '3651d is longer than 3650d; use "0" for forever'],
    ["KERNEL_TRAP", "yes", 'yes is not "0" or "1"'],
  ];
  for (const [key, value, message] of bad) {
    assert.deepEqual(
      messages(`${key}="${value}"`),
      [`portsentry.conf:1: ${key}: ${message}`],
      `${key}="${value}"`,
    );
  }
});

test("KERNEL_TRAP=1 needs KILL_FIREWALL=nftables", () => {
  assert.deepEqual(messages('KILL_FIREWALL="iptables"\nKERNEL_TRAP="1"'), [
    'portsentry.conf:2: KERNEL_TRAP: "1" needs KILL_FIREWALL="nftables" (it is "iptables"); set KERNEL_TRAP="0" or use nftables',
  ]);
});

test("relative paths resolve against the config file's directory (or options.baseDir)", () => {
  const text = 'IGNORE_FILE="portsentry.ignore"\nHISTORY_FILE="../var/h"\nSTATE_DIR="./state"';
  const c = ok(text, "/opt/ps/etc/portsentry.conf");
  assert.equal(c.ignoreFile, "/opt/ps/etc/portsentry.ignore");
  assert.equal(c.historyFile, "/opt/ps/var/h");
  assert.equal(c.stateDir, "/opt/ps/etc/state");
  assert.equal(ok(text, "portsentry.conf").ignoreFile, "portsentry.ignore");
  assert.equal(ok(text, "etc/portsentry.conf").ignoreFile, "etc/portsentry.ignore");
  const r = parseConfig(text, "portsentry.conf", { baseDir: "/srv" });
  assert.ok(r.ok);
  assert.equal(r.value.ignoreFile, "/srv/portsentry.ignore");
});

test("formatEffectiveConfig prints every key, and parsing it back gives the same Config", () => {
  for (const text of [
    "",
    read("test/fixtures/portsentry-1.2.conf"),
    read("etc/portsentry.conf"),
    'PORT_BANNER=" hi there "\nKILL_RUN_CMD="/x $TARGET$"\nBLOCK_TIMEOUT="90"\nUDP_PORTS="1-5,7"',
  ]) {
    const c = ok(text, "/etc/portsentry/portsentry.conf");
    const out = formatEffectiveConfig(c);
    const lines = out.trimEnd().split("\n");
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf("="))),
      CONFIG_KEYS.map((k) => k.key),
    );
    for (const l of lines) assert.match(l, /^[A-Z_]+="[^"]*"$/);
    assert.deepEqual(ok(out, "/etc/portsentry/portsentry.conf"), c);
  }
  assert.match(formatEffectiveConfig(ok('UDP_PORTS="1-5,7"')), /^UDP_PORTS="1-5,7"$/m);
  assert.match(formatEffectiveConfig(ok('BLOCK_TIMEOUT="24h"')), /^BLOCK_TIMEOUT="1d"$/m);
});

test("hostile: a 10 MB line is one error, quickly, and the lines around it still count", () => {
  const huge = `TCP_PORTS="${"1,".repeat(5_000_000)}1"`;
  const started = performance.now();
  const errs = errors(`SCAN_TRIGGER="x"\n${huge}\nBLOCK_TCP="9"\n`);
  const elapsedMs = performance.now() - started;
  assert.deepEqual(
    errs.map((e) => [e.line, e.key]),
    [
      [1, "SCAN_TRIGGER"],
      [2, undefined],
      [3, "BLOCK_TCP"],
    ],
  );
  assert.equal(errs[1]!.message, `line is too long (${huge.length} characters, at most 65536)`);
  assert.ok(elapsedMs < 1000, `took ${elapsedMs.toFixed(0)} ms`);
});

test("hostile: NUL bytes and binary junk are errors with line numbers, never exceptions", () => {
  assert.deepEqual(messages('# a comment with \0 in it\nBLOCK_TCP="1\0"'), [
    "portsentry.conf:1: contains a NUL byte (binary file?)",
    "portsentry.conf:2: BLOCK_TCP: contains a NUL byte (binary file?)",
  ]);
  assert.deepEqual(messages('PORT_BANNER="bell\x07"'), [
    "portsentry.conf:1: PORT_BANNER: contains control character 0x07 at column 18 (binary file?)",
  ]);
  assert.deepEqual(messages('KILL_RUN_CMD="/x \uFFFD"'), [
    "portsentry.conf:1: KILL_RUN_CMD: contains bytes that are not valid UTF-8 at column 18",
  ]);
  // A comment may hold any text but NUL (1.2 files carry Latin-1 comments).
  ok("# caf\uFFFD \x07\n");
  // ELF-like junk: errors, not a crash.
  const junk = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 10, 0xff, 0xfe, 10, 61, 34, 10]).toString(
    "latin1",
  );
  const errs = errors(junk);
  assert.ok(errs.length >= 2);
  for (const e of errs) assert.ok(e.line >= 1);
});

test("hostile: errors are capped, with a count of the rest", () => {
  const text = Array.from({ length: 500 }, () => 'SCAN_TRIGGER="x"').join("\n");
  const errs = errors(text);
  assert.equal(errs.length, MAX_ERRORS + 1);
  assert.equal(errs[0]!.line, 1);
  assert.equal(errs[1]!.line, 2);
  assert.equal(formatConfigError(errs.at(-1)!), "portsentry.conf: and 400 more errors not shown");
});

test("docs/configuration.md documents every key: a table row and a section", () => {
  const doc = read("docs/configuration.md");
  for (const k of CONFIG_KEYS) {
    assert.match(
      doc,
      new RegExp(`^\\| \`${k.key}\` +\\| ${k.origin.replace(".", "\\.")} +\\|`, "m"),
      `${k.key} row`,
    );
    assert.match(doc, new RegExp(`^### .*\`${k.key}\``, "m"), `${k.key} section`);
  }
});

test("line ends: LF, CRLF and a lone CR (classic Mac) all end a line", () => {
  const keys = ['TCP_PORTS="1,11"', "# a comment", 'BLOCK_TCP="0"', 'SCAN_TRIGGER="2"'];
  for (const eol of ["\n", "\r\n", "\r"]) {
    const c = ok(`${keys.join(eol)}${eol}`);
    assert.deepEqual(c.tcpPorts, [1, 11], JSON.stringify(eol));
    assert.equal(c.blockTcp, 0, JSON.stringify(eol));
    assert.equal(c.scanTrigger, 2, JSON.stringify(eol));
  }
  // Errors name the right line in a CR-only file.
  assert.deepEqual(
    errors('TCP_PORTS="1"\r# comment\rSCAN_TRIGGER="x"\r').map((e) => e.line),
    [3],
  );
});

test("changedConfigKeys names the keys of portsentry.conf, not Config fields", () => {
  const a = ok('BLOCK_TIMEOUT="3600"\nTCP_PORTS="1,11"\n');
  assert.deepEqual(changedConfigKeys(a, a), []);
  const b = ok('BLOCK_TIMEOUT="7200"\nTCP_PORTS="1,11"\nKILL_RUN_CMD="/bin/true $TARGET$"\n');
  assert.deepEqual(changedConfigKeys(a, b), ["KILL_RUN_CMD", "BLOCK_TIMEOUT"].sort(byTable));
  // The same value spelt otherwise is no change.
  assert.deepEqual(changedConfigKeys(a, ok('BLOCK_TIMEOUT="1h"\nTCP_PORTS="1, 11"\n')), []);
});

function byTable(x: string, y: string): number {
  const names = CONFIG_KEYS.map((k) => k.key);
  return names.indexOf(x) - names.indexOf(y);
}

test("METRICS_LISTEN: loopback IPv4 and IPv6 accepted; another address needs METRICS_LISTEN_PUBLIC", () => {
  assert.equal(ok("").metricsListen, undefined);
  assert.deepEqual(ok('METRICS_LISTEN="127.0.0.1:9871"').metricsListen, {
    host: "127.0.0.1",
    port: 9871,
    loopback: true,
  });
  assert.deepEqual(ok('METRICS_LISTEN="[::1]:9871"').metricsListen, {
    host: "::1",
    port: 9871,
    loopback: true,
  });
  const refused = messages('METRICS_LISTEN="192.0.2.5:9871"');
  assert.equal(refused.length, 1);
  assert.match(
    refused[0] ?? "",
    /portsentry\.conf:1: METRICS_LISTEN: .*not a loopback address.*METRICS_LISTEN_PUBLIC="1"/,
  );
  assert.deepEqual(ok('METRICS_LISTEN="[2001:db8::5]:9871"\nMETRICS_LISTEN_PUBLIC="1"').metricsListen, {
    host: "2001:db8::5",
    port: 9871,
    loopback: false,
  });
  for (const bad of [
    "localhost:9871",
    "127.0.0.1",
    "::1:9871",
    "127.0.0.1:0",
    "[192.0.2.1]:80",
    "1.2.3.4:70000",
  ]) {
    assert.equal(errors(`METRICS_LISTEN="${bad}"`).length, 1, bad);
  }
});
