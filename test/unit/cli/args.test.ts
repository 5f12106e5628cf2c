import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CONFIG_PATH, parseArgs, usage } from "../../../src/cli/args.js";

function command(argv: string[]) {
  const r = parseArgs(argv);
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.command;
}
function error(argv: string[]): string {
  const r = parseArgs(argv);
  assert.equal(r.ok, false, `expected a usage error for ${argv.join(" ")}`);
  return r.ok ? "" : r.error;
}

test("modes: one TCP and one UDP mode per process", () => {
  assert.deepEqual(command(["-atcp", "-audp"]), {
    kind: "run",
    configPath: DEFAULT_CONFIG_PATH,
    modes: ["atcp", "audp"],
    interfaces: [],
    verbose: false,
    debug: false,
    daemonize: false,
  });
  assert.match(error(["-tcp", "-stcp"]), /only one TCP mode/);
  assert.match(error(["-udp", "-audp"]), /only one UDP mode/);
  assert.match(error(["-tcp", "-tcp"]), /given twice/);
  assert.match(error([]), /no mode given/);
  assert.match(error(["--tcp"]), /unknown option --tcp/);
});

test("options: -c, -i (repeatable), -v, -d, --daemon", () => {
  const c = command(["-c", "/tmp/x.conf", "-i", "eth0", "-i", "eth1", "-v", "-d", "--daemon", "-stcp"]);
  assert.equal(c.kind, "run");
  if (c.kind !== "run") return;
  assert.equal(c.configPath, "/tmp/x.conf");
  assert.deepEqual(c.interfaces, ["eth0", "eth1"]);
  assert.ok(c.verbose && c.debug && c.daemonize);
  assert.match(error(["-c"]), /needs a file/);
  assert.match(error(["-i", "eth0;rm -rf /", "-tcp"]), /not an interface name/);
});

test("subcommands", () => {
  assert.deepEqual(command(["check-config", "-c", "a.conf"]), { kind: "check-config", configPath: "a.conf" });
  assert.deepEqual(command(["-c", "a.conf", "unblock", "192.0.2.1", "2001:db8::1", "--json"]), {
    kind: "unblock",
    configPath: "a.conf",
    json: true,
    addresses: ["192.0.2.1", "2001:db8::1"],
  });
  assert.match(error(["unblock"]), /at least one/);
  assert.match(error(["block", "1.2.3.4", "5.6.7.8"]), /exactly one/);
  assert.match(error(["status", "-tcp"]), /no mode flags/);
  assert.equal(command(["replay", "x.pcap"]).kind, "replay");
  assert.equal(command(["--version"]).kind, "version");
  assert.equal(command(["-tcp", "--help"]).kind, "help");
});

test("control bytes in bad arguments are not echoed", () => {
  assert.ok(!error(["-\u001b[31mx"]).includes("\u001b"));
});

test("usage names every mode and subcommand", () => {
  for (const word of ["-tcp", "-sudp", "-atcp", "check-config", "unblock", "replay", "--daemon"]) {
    assert.ok(usage().includes(word), word);
  }
});

test("replay: capture file, capture modes, --local (repeatable, canonical), --json", () => {
  assert.deepEqual(command(["replay", "x.pcap"]), {
    kind: "replay",
    configPath: DEFAULT_CONFIG_PATH,
    pcapFile: "x.pcap",
    json: false,
    modes: [],
    localAddresses: [],
  });
  assert.deepEqual(
    command([
      "-c",
      "a.conf",
      "replay",
      "x.pcapng",
      "-atcp",
      "-audp",
      "--local",
      "2001:DB8:0::1",
      "--local",
      "192.0.2.1",
      "--json",
    ]),
    {
      kind: "replay",
      configPath: "a.conf",
      pcapFile: "x.pcapng",
      json: true,
      modes: ["atcp", "audp"],
      localAddresses: ["2001:db8::1", "192.0.2.1"],
    },
  );
  assert.match(error(["replay"]), /exactly one capture file/);
  assert.match(error(["replay", "a.pcap", "b.pcap"]), /exactly one capture file/);
  assert.match(error(["replay", "a.pcap", "-tcp"]), /stealth and advanced modes/);
  assert.match(error(["replay", "a.pcap", "-stcp", "-atcp"]), /only one TCP mode/);
  assert.match(error(["replay", "a.pcap", "--local", "host.example"]), /not an IP address/);
  assert.match(error(["replay", "a.pcap", "--local"]), /needs an IP address/);
  assert.match(error(["--local", "192.0.2.1", "-stcp"]), /option of replay/);
  assert.match(error(["status", "--local", "192.0.2.1"]), /option of replay/);
});
