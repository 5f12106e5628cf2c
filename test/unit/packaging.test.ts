/**
 * The operator-facing files (spec §8) against the code they describe, so they cannot drift:
 * man pages vs CONFIG_KEYS, SUBCOMMANDS and usage(); the systemd unit vs the CLI and the
 * capability model; the fail2ban filter vs formatHistoryLine (with the real fail2ban-regex);
 * the logrotate snippet vs HistoryFile (with the real logrotate). Tools that are not
 * installed make their test skip with the Debian package to install.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { copyFile, cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { DEFAULT_CONFIG_PATH, parseArgs, SUBCOMMANDS, usage } from "../../src/cli/args.js";
import { CONFIG_KEYS, configKey } from "../../src/config/keys.js";
import { ALL_CAPABILITIES } from "../../src/sensors/capabilities.js";
import { formatHistoryLine, HistoryFile } from "../../src/state/history.js";
import { REPO_ROOT } from "../helpers/daemon.js";

const repo = (...p: string[]) => join(REPO_ROOT, ...p);
const dir = await mkdtemp(join(tmpdir(), "pspkg-"));
after(() => rm(dir, { recursive: true, force: true }));

/** Absolute path of an installed program, or undefined. */
function which(name: string): string | undefined {
  for (const d of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const needs = (program: string, debianPackage: string): string | false =>
  which(program) === undefined ? `needs ${program} (Debian package ${debianPackage})` : false;

function runTool(file: string, args: readonly string[]) {
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}

const absent = (key: string): string => {
  const spec = configKey(key);
  assert.ok(spec, key);
  return spec.absent;
};

// ---------------------------------------------------------------------------------------------
// Man pages

/** roff source → the text a reader sees, enough for comparing names and values. */
function roffText(s: string): string {
  return s
    .replace(/\\f[BIRP]/g, "")
    .replace(/\\\(dq/g, '"')
    .replace(/\\\((lq|rq)/g, '"')
    .replace(/\\-/g, "-")
    .replace(/\\[:&%]/g, "")
    .replace(/\\e/g, "\\");
}

interface ManEntry {
  /** The tag line after `.TP`, without its macro: `unblock ip...`. */
  readonly tag: string;
  /** The entry's body, joined with spaces, as text. */
  readonly body: string;
}

/** The `.TP` entries of one `.SH` section (including its `.SS` subsections). */
function manEntries(roff: string, section: string): ManEntry[] {
  const lines = roff.split("\n");
  const start = lines.indexOf(`.SH ${section}`);
  assert.ok(start >= 0, `section ${section}`);
  let end = lines.findIndex((l, i) => i > start && l.startsWith(".SH "));
  if (end < 0) end = lines.length;
  const entries: ManEntry[] = [];
  for (let i = start + 1; i < end; i++) {
    if (lines[i] !== ".TP") continue;
    const tagLine = lines[i + 1] ?? "";
    const tag = roffText(tagLine.replace(/^\.(BR|BI|B|IR|I)\s+/, "").replaceAll('"', ""));
    const body: string[] = [];
    for (let j = i + 2; j < end && !/^\.(TP|SS|SH)\b/.test(lines[j] ?? ""); j++) body.push(lines[j] ?? "");
    entries.push({ tag, body: roffText(body.filter((l) => !l.startsWith('.\\"')).join(" ")) });
  }
  return entries;
}

describe("man pages", () => {
  test("portsentry.conf(5) has an entry for every key, with its default and shipped value", async () => {
    const roff = await readFile(repo("man/portsentry.conf.5"), "utf8");
    const entries = manEntries(roff, "KEYS");
    for (const spec of CONFIG_KEYS) {
      const entry = entries.find((e) => e.tag === spec.key);
      assert.ok(entry, `${spec.key} has no entry in man/portsentry.conf.5`);
      const text = entry.body.replace(/\s+/g, " ");
      const def = spec.absent === "" ? "Default: not set" : `Default: ${spec.absent}`;
      assert.ok(text.includes(def), `${spec.key}: "${def}" not in: ${text}`);
      if (spec.shipped !== spec.absent) {
        assert.ok(text.includes("Shipped:"), `${spec.key}: no "Shipped:" in: ${text}`);
        assert.ok(text.includes(spec.shipped), `${spec.key}: shipped value ${spec.shipped} not in: ${text}`);
      }
    }
    for (const e of entries) assert.ok(configKey(e.tag), `man page documents unknown key ${e.tag}`);
  });

  test("portsentry(8) documents every subcommand, option and mode", async () => {
    const roff = await readFile(repo("man/portsentry.8"), "utf8");
    const commands = manEntries(roff, "COMMANDS");
    for (const s of SUBCOMMANDS) {
      const entry = commands.find((e) => e.tag === s.name || e.tag.startsWith(`${s.name} `));
      assert.ok(entry, `subcommand ${s.name} has no entry in COMMANDS`);
      assert.ok(
        entry.tag.toLowerCase().includes(s.args.toLowerCase()),
        `${s.name}: args ${s.args} in ${entry.tag}`,
      );
    }
    for (const e of commands) {
      const name = e.tag.split(" ")[0];
      assert.ok(
        SUBCOMMANDS.some((s) => s.name === name),
        `COMMANDS documents ${name}, which src/cli/args.ts does not have`,
      );
    }
    const synopsis = roffText(roff.slice(roff.indexOf(".SH SYNOPSIS"), roff.indexOf(".SH DESCRIPTION")));
    for (const s of SUBCOMMANDS) assert.ok(synopsis.includes(s.name), `SYNOPSIS lacks ${s.name}`);

    // Options and modes as usage() lists them.
    const help = usage();
    const options = [...help.slice(help.indexOf("Options:")).matchAll(/^ {2}(-{1,2}[a-z]+)/gm)].map(
      (m) => m[1],
    );
    assert.ok(options.length >= 6, `options parsed from usage(): ${options.join(" ")}`);
    const optionTags = manEntries(roff, "OPTIONS").map((e) => e.tag);
    for (const o of [...options, "--help", "--version"]) {
      assert.ok(
        optionTags.some((t) => t.split(/[ ,]+/).includes(o as string)),
        `option ${o} missing in OPTIONS: ${optionTags.join(" | ")}`,
      );
    }
    const modeTags = manEntries(roff, "MODES").map((e) => e.tag);
    for (const m of ["-tcp", "-udp", "-stcp", "-sudp", "-atcp", "-audp"]) {
      assert.ok(
        modeTags.some((t) => t.split(/[ ,]+/).includes(m)),
        `mode ${m}`,
      );
    }
    const exits = manEntries(roff, "EXIT STATUS").map((e) => e.tag);
    assert.deepEqual(exits, ["0", "1", "2"]);
    const signals = manEntries(roff, "SIGNALS")
      .map((e) => e.tag)
      .join(" ");
    for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) assert.ok(signals.includes(s), s);
    assert.ok(roffText(roff).includes(DEFAULT_CONFIG_PATH));
  });

  test("both pages render without a groff warning", { skip: needs("groff", "groff-base") }, () => {
    for (const page of ["man/portsentry.8", "man/portsentry.conf.5"]) {
      for (const device of ["-Tutf8", "-Tps"]) {
        const r = runTool("groff", ["-ww", "-z", "-man", device, repo(page)]);
        assert.equal(r.status, 0, `${page} ${device}: ${r.stderr}`);
        assert.equal(r.stderr, "", `${page} ${device}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// systemd unit

/** A systemd unit file: section → key → values (keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    assert.ok(!line.endsWith("\\"), `line ${i + 1}: continuation lines are not used`);
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section?.[1] !== undefined) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv?.[1] !== undefined && kv[2] !== undefined, `line ${i + 1} is not Key=Value: ${line}`);
    assert.ok(current, `line ${i + 1} before any section`);
    current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2]]);
  }
  return sections;
}

/** `NAME="a b"` (EnvironmentFile= syntax) → the value of NAME. */
function envFileValue(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}="([^"]*)"$`, "m").exec(text);
  return m?.[1];
}

test("the installed command starts node with a bounded young generation, its code compiled at start", async () => {
  // A spoofed flood makes each packet's source a surviving object: V8's default young
  // generation then grows to 32 MiB; --optimize-for-size keeps a flood's peak ~15 MiB lower.
  // --no-flush-bytecode: what the warm-up compiled at start (the whole path of a probe) stays
  // compiled, so the first probe after an idle hour does not pay for compiling it again
  // (--no-lazy, compiling every loaded function at start, cost 1.5 MiB and 25 ms of start for
  // a first probe within the noise once the kernel's path was warmed too); --single-threaded:
  // no V8 helper threads wake up to compete for the CPU while it is handled;
  // --no-lazy-feedback-allocation: code run once before learns from that run, so the first
  // probe's property reads are not all slow-path misses. All are only settable when node starts.
  const firstLine = (await readFile(repo("dist/src/cli/main.js"), "utf8")).split("\n")[0] ?? "";
  const script = join(dir, "shebang.js");
  await writeFile(script, `${firstLine}\nconsole.log(JSON.stringify(process.execArgv));\n`, { mode: 0o755 });
  const r = spawnSync(script, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    "--max-semi-space-size=1",
    "--optimize-for-size",
    "--no-flush-bytecode",
    "--single-threaded",
    "--no-lazy-feedback-allocation",
  ]);
});

describe("systemd unit", async () => {
  const unitPath = repo("packaging/systemd/portsentry.service");
  const unit = parseUnit(await readFile(unitPath, "utf8"));
  const service = unit.get("Service") ?? new Map<string, string[]>();
  const one = (key: string): string => {
    const v = service.get(key);
    assert.equal(v?.length, 1, `[Service] ${key} set once`);
    return v?.[0] ?? "";
  };
  const words = (key: string) => new Set(one(key).split(/\s+/));

  test("sections and start-up: Type=notify, ExecStart parses as the CLI's run command", async () => {
    assert.deepEqual([...unit.keys()], ["Unit", "Service", "Install"]);
    // READY=1 comes from node itself (the wrapper execs it), so main is enough; the watchdog
    // pings every WatchdogSec/2 from the event loop.
    assert.equal(one("Type"), "notify");
    assert.equal(one("NotifyAccess"), "main");
    assert.equal(one("WatchdogSec"), "30s");
    const env = /^"PORTSENTRY_MODES=([^"]*)"$/.exec(one("Environment"))?.[1];
    assert.equal(env, "-atcp -audp");
    assert.equal(one("EnvironmentFile"), "-/etc/default/portsentry");
    const exec = one("ExecStart").split(/\s+/);
    assert.equal(exec[0], "/usr/bin/portsentry");
    // systemd splits an unbraced $VAR at whitespace: one argument per mode.
    for (const modes of [
      env,
      envFileValue(await readFile(repo("packaging/default/portsentry"), "utf8"), "PORTSENTRY_MODES"),
    ]) {
      assert.ok(modes !== undefined);
      const argv = exec.slice(1).flatMap((a) => (a === "$PORTSENTRY_MODES" ? modes.split(/\s+/) : [a]));
      const parsed = parseArgs(argv);
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.command.kind, "run");
      assert.ok(parsed.command.kind === "run" && parsed.command.configPath === DEFAULT_CONFIG_PATH);
      assert.ok(parsed.command.kind === "run" && parsed.command.modes.join(" ") === "atcp audp");
    }
    assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert.equal(one("Restart"), "on-failure");
    assert.equal(one("RestartPreventExitStatus"), "2", "a config error is not retried");
    assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target");
  });

  test("privilege: root with exactly the three capabilities, bounding and ambient", () => {
    assert.equal(one("User"), "root");
    assert.deepEqual(words("CapabilityBoundingSet"), new Set(ALL_CAPABILITIES));
    assert.deepEqual(words("AmbientCapabilities"), new Set(ALL_CAPABILITIES));
    assert.equal(one("NoNewPrivileges"), "yes");
  });

  test("files: the default paths of every file the daemon writes are writable", () => {
    assert.equal(one("ProtectSystem"), "strict");
    const stateDir = `/var/lib/${one("StateDirectory")}`;
    assert.equal(stateDir, absent("STATE_DIR"));
    for (const key of ["HISTORY_FILE", "BLOCKED_FILE"]) assert.equal(dirname(absent(key)), stateDir, key);
    // hosts.deny is replaced by temp file + rename in its directory: the directory is writable.
    assert.ok(words("ReadWritePaths").has(dirname(absent("WRAPPER_HOSTS_DENY"))));
    assert.equal(one("LimitNOFILE"), "65536");
    assert.deepEqual(
      words("RestrictAddressFamilies"),
      new Set(["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"]),
    );
    assert.equal(service.get("MemoryDenyWriteExecute"), undefined, "Node's JIT needs W+X pages");
    assert.equal(service.get("PrivateNetwork"), undefined);
  });

  test("systemd-analyze verify accepts the unit", { skip: needs("systemd-analyze", "systemd") }, async () => {
    // verify insists that ExecStart's program exists: point it at one that does.
    const copy = join(dir, "portsentry.service");
    const text = await readFile(unitPath, "utf8");
    await writeFile(copy, text.replaceAll("/usr/bin/portsentry", process.execPath));
    const r = runTool("systemd-analyze", ["verify", "--man=no", copy]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /portsentry\.service:/);
  });
});

// ---------------------------------------------------------------------------------------------
// fail2ban

const FILTER = repo("packaging/fail2ban/filter.d/portsentry.conf");
const JAIL = repo("packaging/fail2ban/jail.d/portsentry.local");

describe("fail2ban", () => {
  test("the jail reads the default history file with the portsentry filter", async () => {
    const jail = await readFile(JAIL, "utf8");
    const value = (k: string) => new RegExp(`^${k}\\s*=\\s*(.*)$`, "m").exec(jail)?.[1]?.trim();
    assert.match(jail, /^\[portsentry\]$/m);
    assert.equal(value("logpath"), absent("HISTORY_FILE"));
    assert.equal(value("filter"), "portsentry");
    assert.equal(value("maxretry"), "1");
    assert.equal(value("enabled"), "true");
  });

  test("fail2ban-regex: every history line we write matches, with the right host and time", {
    skip: needs("fail2ban-regex", "fail2ban"),
  }, async () => {
    const when = new Date(2024, 0, 15, 3, 4, 5);
    const cases = [
      { name: "192.0.2.7", address: "192.0.2.7", port: 143, proto: "TCP" },
      { name: "scanner.example.net", address: "198.51.100.23", port: 1, proto: "UDP" },
      { name: "2001:db8::7", address: "2001:db8::7", port: 31337, proto: "TCP" },
      { name: "host6.example", address: "2001:db8:ffff::1:2", port: 53, proto: "UDP" },
      { name: "203.0.113.250", address: "203.0.113.250", port: 65535, proto: "TCP" },
      // A reverse name chosen by the attacker cannot make fail2ban ban someone else.
      { name: "evil/203.0.113.9 Port: 1 TCP Blocked", address: "198.51.100.99", port: 7, proto: "UDP" },
    ] as const;
    const lines = cases.map((c, i) =>
      formatHistoryLine(new Date(when.getTime() + i * 1000), c.name, c.address, c.port, c.proto),
    );
    const history = join(dir, "portsentry.history");
    await writeFile(history, `${[...lines, "not a history line"].join("\n")}\n`);
    const r = runTool("fail2ban-regex", ["-o", "row", history, FILTER]);
    assert.equal(r.status, 0, r.stderr);
    const rows = [...r.stdout.matchAll(/^\['([^']*)',\s*([0-9.]+|None),/gm)].map((m) => ({
      host: m[1],
      epoch: m[2],
    }));
    assert.deepEqual(
      rows,
      cases.map((c, i) => ({ host: c.address, epoch: `${Math.floor(when.getTime() / 1000) + i}.0` })),
      r.stdout,
    );
    const summary = runTool("fail2ban-regex", [history, FILTER]);
    assert.match(
      summary.stdout,
      new RegExp(`Lines: ${lines.length + 1} lines, 0 ignored, ${lines.length} matched, 1 missed`),
    );
  });

  test("fail2ban-client loads the jail and filter with the stock configuration", {
    skip: needs("fail2ban-client", "fail2ban"),
  }, async (t) => {
    try {
      await stat("/etc/fail2ban/jail.conf");
    } catch {
      t.skip("no /etc/fail2ban/jail.conf (Debian package fail2ban)");
      return;
    }
    const conf = join(dir, "fail2ban");
    await cp("/etc/fail2ban", conf, { recursive: true });
    // Only our jail: the distribution's enabled jails may need logs this machine lacks.
    await rm(join(conf, "jail.d"), { recursive: true, force: true });
    await cp(repo("packaging/fail2ban/jail.d"), join(conf, "jail.d"), { recursive: true });
    await copyFile(FILTER, join(conf, "filter.d/portsentry.local"));
    const history = join(dir, "f2b.history");
    await writeFile(history, "");
    await writeFile(join(conf, "jail.d/zz-test.local"), `[portsentry]\nlogpath = ${history}\n`);
    const r = runTool("fail2ban-client", ["-c", conf, "-d"]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\['add', 'portsentry', 'auto'\]/);
    assert.ok(
      r.stdout.includes(
        "['set', 'portsentry', 'addfailregex', '\\\\/<HOST> Port\\\\: [0-9]+ (TCP|UDP) Blocked$']",
      ),
      r.stdout,
    );
    assert.match(r.stdout, /\['set', 'portsentry', 'maxretry', 1\]/);
    assert.ok(r.stdout.includes(`['set', 'portsentry', 'addlogpath', '${history}', 'head']`));
  });
});

// ---------------------------------------------------------------------------------------------
// logrotate

describe("logrotate", () => {
  const snippetPath = repo("packaging/logrotate/portsentry");

  test("rotates the default history file with create, never copytruncate", async () => {
    const snippet = await readFile(snippetPath, "utf8");
    const active = snippet
      .split("\n")
      .filter((l) => !l.trimStart().startsWith("#"))
      .join("\n");
    const stanza = /^(\S+) \{([^}]*)\}/m.exec(active);
    assert.equal(stanza?.[1], absent("HISTORY_FILE"));
    const directives = (stanza?.[2] ?? "").split("\n").map((l) => l.trim());
    assert.ok(directives.includes("create 0600 root root"));
    assert.ok(directives.includes("nocopytruncate"));
    assert.ok(!directives.includes("copytruncate"));
  });

  test("a real rotation: the old lines stay in .1, the next append goes to a fresh 0600 file", {
    skip: needs("logrotate", "logrotate") || (process.getuid?.() !== 0 && "needs root: create root root"),
  }, async () => {
    const work = await mkdtemp(join(dir, "rotate-"));
    const historyPath = join(work, "portsentry.history");
    const snippet = await readFile(snippetPath, "utf8");
    const conf = join(work, "logrotate.conf");
    await writeFile(conf, snippet.replaceAll(absent("HISTORY_FILE"), historyPath), { mode: 0o644 });

    const history = new HistoryFile(historyPath);
    await history.append("before rotation 1");
    await history.append("before rotation 2");
    const r = runTool("logrotate", ["-f", "-s", join(work, "state"), conf]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(`${historyPath}.1`, "utf8"), "before rotation 1\nbefore rotation 2\n");
    assert.equal(await readFile(historyPath, "utf8"), "");
    assert.equal((await stat(historyPath)).mode & 0o777, 0o600);
    // The daemon opens the path for each line: no signal needed, nothing lost.
    await history.append("after rotation");
    assert.equal(await readFile(historyPath, "utf8"), "after rotation\n");
    assert.equal(await readFile(`${historyPath}.1`, "utf8"), "before rotation 1\nbefore rotation 2\n");
  });
});
