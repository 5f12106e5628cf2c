/**
 * Files a root daemon can be tricked into writing (issue point 3), with the real daemon in a lab
 * namespace: links planted by another user (uid 65534) at the history file, the blocked file
 * and the temp names 0.x used, and a world-writable directory, are refused or harmless; the
 * file they point to is untouched.
 */

import assert from "node:assert/strict";
import { chmod, lchown, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { request } from "../../src/control/client.js";
import { socketPathFor } from "../../src/control/protocol.js";
import { MAIN_JS, startDaemon, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, type Lab, type LabProcess, rootSkip } from "../netns/netns.js";

const VICTIM_TEXT = "root:x:0:0:root:/root:/bin/bash\n";
const NOBODY = 65534;

describe("files the daemon writes as root", { skip: rootSkip() }, () => {
  let lab: Lab;
  let base = "";
  const daemons: LabProcess[] = [];
  const removals: (() => Promise<void>)[] = [];

  before(async () => {
    lab = await createLab({ name: "files", hosts: 1 });
    base = await mkdtemp(join(tmpdir(), "ps-files-"));
  });
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop(2000);
    await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
  });
  after(async () => {
    await lab?.destroy();
    for (const r of removals) await r();
    if (base !== "") await rm(base, { recursive: true, force: true });
  });

  /** A root-owned file that must never change, in a directory of its own. */
  const victim = async (name: string): Promise<string> => {
    const dir = join(base, `victim-${name}`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const path = join(dir, "passwd");
    await writeFile(path, VICTIM_TEXT);
    return path;
  };
  /** A link as another user would plant it (owned by uid 65534). */
  const plant = async (target: string, at: string): Promise<void> => {
    await symlink(target, at);
    await lchown(at, NOBODY, NOBODY);
  };
  const configIn = (dir: string, extra: Record<string, string> = {}) =>
    writeDaemonFiles({
      TCP_PORTS: "143",
      BLOCK_TCP: "1",
      KILL_FIREWALL: "nftables",
      KILL_HOSTS_DENY: "ALL: $TARGET$",
      HISTORY_FILE: join(dir, "portsentry.history"),
      BLOCKED_FILE: join(dir, "portsentry.blocked"),
      WRAPPER_HOSTS_DENY: join(dir, "hosts.deny"),
      ...extra,
    });
  /** Runs the daemon to its exit; returns the status and what it printed. */
  const refused = async (conf: string): Promise<{ code: number | null; stderr: string }> => {
    const r = await lab.exec(lab.target, ["node", MAIN_JS, "-c", conf, "-tcp"], { timeoutMs: 15_000 });
    return { code: r.code, stderr: r.stderr };
  };

  test("a mode-1777 directory with links planted in it: the daemon does not start and names it", async () => {
    const target = await victim("open");
    const open = join(base, "open");
    await mkdir(open);
    await chmod(open, 0o1777);
    await plant(target, join(open, "portsentry.history"));
    await plant(target, join(open, "portsentry.blocked.tcp"));
    const files = await configIn(open);
    removals.push(files.remove);
    const r = await refused(files.conf);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`unsafe directory: ${open} is writable by others \\(mode 1777\\)`));
    assert.equal(await readFile(target, "utf8"), VICTIM_TEXT);
  });

  test("a link at HISTORY_FILE: the daemon does not start and names it", async () => {
    const target = await victim("history-at-start");
    const dir = await mkdtemp(join(base, "safe-"));
    await plant(target, join(dir, "portsentry.history"));
    const files = await configIn(dir);
    removals.push(files.remove);
    const r = await refused(files.conf);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`unsafe file: ${dir}/portsentry\\.history is a symbolic link`));
    assert.equal(await readFile(target, "utf8"), VICTIM_TEXT);
  });

  test("links planted while it runs (history, blocked file, old temp names) are never written through", async () => {
    const dir = await mkdtemp(join(base, "safe-"));
    const files = await configIn(dir);
    removals.push(files.remove);
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp"]);
    daemons.push(daemon);
    // `ip netns exec` execs node: the lab process's pid is the daemon's.
    const pid = daemon.pid;
    const targets = await Promise.all(["history", "blocked", "blocked-temp", "deny-temp"].map(victim));
    const [tHistory, tBlocked, tBlockedTemp, tDenyTemp] = targets as [string, string, string, string];
    const blocked = join(dir, "portsentry.blocked.tcp");
    await rm(blocked, { force: true });
    await plant(tHistory, join(dir, "portsentry.history"));
    await plant(tBlocked, blocked);
    await plant(tBlockedTemp, `${blocked}.tmp-${pid}`);
    await plant(tDenyTemp, join(dir, `.hosts.deny.portsentry-${pid}`));

    const r = await request(socketPathFor(join(files.dir, "state")), "block", ["198.51.100.7"]);
    assert.ok(r.ok, JSON.stringify(r));
    await lab.waitForFileContains(join(dir, "hosts.deny"), "ALL: 198.51.100.7", 5000);
    await lab.waitFor(async () => !(await lstat(blocked)).isSymbolicLink(), {
      what: "the blocked file rewritten",
    });
    await lab.waitForOutput(daemon, /could not write the history line of 198\.51\.100\.7 .*ELOOP/, 5000);

    for (const t of targets) assert.equal(await readFile(t, "utf8"), VICTIM_TEXT, t);
    assert.match(await readFile(blocked, "utf8"), /\/198\.51\.100\.7 Port: 0 TCP Blocked\n$/);
    assert.equal(
      (await lstat(join(dir, "portsentry.history"))).isSymbolicLink(),
      true,
      "the link left alone",
    );
  });
});
