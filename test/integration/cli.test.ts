/**
 * The `portsentry` command as a user meets it (spec §1): exit statuses, check-config output,
 * errors located by file, line and key; --daemon and flush (root, in a lab).
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { MAIN_JS, REPO_ROOT, TCP_CLIENT_JS, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, rootSkip } from "../netns/netns.js";

const run = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", [MAIN_JS, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
};

const dir = await mkdtemp(join(tmpdir(), "ps-cli-"));
after(() => rm(dir, { recursive: true, force: true }));

test("--version and --help exit 0", async () => {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.deepEqual(await run(["--version"]), { code: 0, stdout: `portsentry ${pkg.version}\n`, stderr: "" });
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-atcp -audp/);
});

test("usage errors exit 2: two TCP modes, no mode, unknown option", async () => {
  for (const args of [["-tcp", "-stcp"], [], ["--bogus"]]) {
    const r = await run(["-c", "/nonexistent.conf", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, /^portsentry: /);
  }
});

test("check-config prints the effective config of the bundled file", async () => {
  const r = await run(["check-config", "-c", join(REPO_ROOT, "etc/portsentry.conf")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^TCP_PORTS="1,11,15,79,111,/m);
  assert.match(r.stdout, /^KILL_FIREWALL="nftables"$/m);
  assert.match(r.stdout, /^BLOCK_TIMEOUT="1d"$/m);
});

test("a broken config exits 2 with every error located by file, line and key", async () => {
  const conf = join(dir, "broken.conf");
  await writeFile(
    conf,
    'TCP_PORTS="1,70000"\nBLOCK_TCP="7"\nKILL_ROUTE="/sbin/route add reject"\nTCP_PROTS="1"\n',
  );
  const r = await run(["check-config", "-c", conf]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /broken\.conf:1: TCP_PORTS: .*70000/);
  assert.match(r.stderr, /broken\.conf:2: BLOCK_TCP: /);
  assert.match(r.stderr, /broken\.conf:3: KILL_ROUTE: .*\$TARGET\$/);
  assert.match(r.stderr, /broken\.conf:4: .*TCP_PROTS.*did you mean TCP_PORTS/);
  // The daemon refuses the same file with the same status.
  assert.equal((await run(["-c", conf, "-tcp"])).code, 2);
});

test("a missing config file exits 2 and names it", async () => {
  const r = await run(["-c", join(dir, "missing.conf"), "-tcp"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing\.conf/);
});

describe("as root in a lab: --daemon, no port bound, flush", { skip: rootSkip() }, async () => {
  const lab = await createLab({ name: "cli", hosts: 1 });
  after(() => lab.destroy());

  test("no port could be bound: exit 1", async () => {
    const files = await writeDaemonFiles({ TCP_PORTS: "2222" });
    try {
      const holder = lab.spawn(lab.target, [
        "node",
        "-e",
        'require("net").createServer().listen({port:2222,host:"::",ipv6Only:false},()=>console.log("LISTENING"))',
      ]);
      await lab.waitForOutput(holder, "LISTENING", 10_000);
      const r = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "-tcp"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /could not bind TCP socket: 2222/);
      await holder.stop();
    } finally {
      await files.remove();
    }
  });

  test("--daemon returns once armed; flush lifts every block and removes the table", async () => {
    const files = await writeDaemonFiles({
      TCP_PORTS: "143",
      BLOCK_TCP: "1",
      KILL_FIREWALL: "nftables",
      KILL_HOSTS_DENY: "ALL: $TARGET$",
    });
    try {
      const started = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "--daemon", "-tcp"]);
      assert.equal(started.code, 0, started.stderr);
      const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
      assert.ok(pid > 0, started.stdout);
      await lab.exec(lab.scanner(), ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, "143", "1000"]);
      await lab.waitForFileContains(files.hostsDeny, lab.scanner().v4, 5000);
      const refused = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "flush"]);
      assert.equal(refused.code, 1, "flush refuses while the daemon runs");
      process.kill(pid, "SIGTERM");
      await lab.waitFor(
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        { timeoutMs: 10_000, what: "the daemon to stop" },
      );
      const flushed = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "flush"]);
      assert.equal(flushed.code, 0, flushed.stderr);
      assert.match(flushed.stdout, /1 blocks lifted/);
      assert.equal(await readFile(files.hostsDeny, "utf8"), "");
      const table = await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"]);
      assert.notEqual(table.code, 0, "the table is gone");
    } finally {
      await files.remove();
    }
  });
});
