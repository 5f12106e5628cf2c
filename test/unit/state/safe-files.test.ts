/**
 * Files a root daemon writes (issue point 3): no symbolic link is followed, no temp name can be
 * planted, a directory others can write in is refused with its path; history lines are whole.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { HostsDenyResponder } from "../../../src/respond/hosts-deny.js";
import { BlockedFile } from "../../../src/state/blocked-file.js";
import { HistoryFile } from "../../../src/state/history.js";
import {
  checkDirectory,
  createTempBeside,
  isDiskFull,
  openForAppend,
  preparePlaces,
  unsafePlace,
} from "../../../src/state/safe-files.js";
import { StateStore } from "../../../src/state/store.js";
import { MAIN_JS } from "../../helpers/daemon.js";

const dir = await mkdtemp(join(tmpdir(), "ps-safe-"));
after(() => rm(dir, { recursive: true, force: true }));

const VICTIM_TEXT = "root:x:0:0:root:/root:/bin/bash\n";
/** A file an attacker would like root to write through a link; its own directory. */
async function victim(name: string): Promise<string> {
  const path = join(dir, `victim-${name}`);
  await writeFile(path, VICTIM_TEXT);
  return path;
}

test("a symbolic link at the history path is refused; the victim is untouched", async () => {
  const target = await victim("history");
  const path = join(dir, "history-link");
  await symlink(target, path);
  await assert.rejects(new HistoryFile(path).append("1 - line"), { code: "ELOOP" });
  await assert.rejects(openForAppend(path), { code: "ELOOP" });
  assert.equal(await readFile(target, "utf8"), VICTIM_TEXT);
  assert.equal(
    await new HistoryFile(path).hasLineOf({ address: "192.0.2.1", port: 1, mode: "tcp", sinceMs: 0 }),
    false,
  );
});

test("a symbolic link at the blocked file's path is replaced, not written through", async () => {
  const target = await victim("blocked");
  const path = join(dir, "blocked.tcp");
  await symlink(target, path);
  await new BlockedFile(path).add("192.0.2.1", "x Host: 192.0.2.1/192.0.2.1 Port: 1 TCP Blocked");
  assert.equal(await readFile(target, "utf8"), VICTIM_TEXT);
  assert.equal((await lstat(path)).isSymbolicLink(), false);
  assert.match(await readFile(path, "utf8"), /192\.0\.2\.1 Port: 1 TCP Blocked\n$/);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});

test("links planted at the old, guessable temp names are never followed", async () => {
  const target = await victim("temp");
  const blocked = join(dir, "blocked.udp");
  const hostsDeny = join(dir, "hosts.deny");
  await symlink(target, `${blocked}.tmp-${process.pid}`);
  await symlink(target, join(dir, `.hosts.deny.portsentry-${process.pid}`));
  await new BlockedFile(blocked).add("192.0.2.2", "line");
  const r = new HostsDenyResponder(hostsDeny, "ALL: $TARGET$");
  assert.deepEqual(await r.ban({ address: "192.0.2.2", family: 4, port: 1, mode: "udp" }, 0), { ok: true });
  assert.equal(await readFile(target, "utf8"), VICTIM_TEXT);
  assert.equal(await readFile(blocked, "utf8"), "line\n");
  assert.equal(await readFile(hostsDeny, "utf8"), "ALL: 192.0.2.2\n");
  assert.deepEqual(
    (await readdir(dir)).filter((f) => /\.tmp-[0-9a-f]{16}$/.test(f)),
    [],
    "no temp file left behind",
  );
});

test("a temp file has a fresh random name and is created new, never through a link", async () => {
  const target = join(dir, "target");
  const a = await createTempBeside(target);
  const b = await createTempBeside(target);
  await a.handle.close();
  await b.handle.close();
  assert.notEqual(a.path, b.path);
  assert.match(a.path, /\/\.target\.tmp-[0-9a-f]{16}$/);
  assert.equal((await stat(a.path)).mode & 0o777, 0o600);
});

test("a world- or group-writable directory is refused with its path; one under a sticky /tmp is not", async () => {
  const open = join(dir, "open");
  await mkdir(open);
  await chmod(open, 0o777);
  const r = await checkDirectory(open);
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.error, new RegExp(`^${open} is writable by others \\(mode 0777\\)`));

  const sticky = join(dir, "sticky");
  await mkdir(sticky);
  await chmod(sticky, 0o1777);
  assert.equal((await checkDirectory(sticky)).ok, false, "sticky is not enough for the directory itself");

  const group = join(dir, "group");
  await mkdir(group);
  await chmod(group, 0o770);
  assert.match(JSON.stringify(await checkDirectory(group)), /writable by its group/);

  const below = join(open, "below");
  await mkdir(below, { mode: 0o700 });
  const under = await checkDirectory(below);
  assert.equal(under.ok, false, "a directory others can rename is no safer than one they can write");
  assert.match(under.ok ? "" : under.error, new RegExp(`^${open} is writable by others`));

  const redirect = join(open, "to-safe-dir");
  await symlink(dir, redirect);
  const linked = await checkDirectory(redirect);
  assert.equal(linked.ok, false, "a link others can replace redirects the path");
  assert.match(linked.ok ? "" : linked.error, new RegExp(`^${open} is writable by others`));

  const safe = join(sticky, "safe");
  await mkdir(safe, { mode: 0o755 });
  assert.deepEqual(await checkDirectory(safe), { ok: true });
  assert.deepEqual(await checkDirectory(dir), { ok: true }, "mkdtemp's 0700 under /tmp");
  assert.equal((await checkDirectory(join(dir, "missing"))).ok, false);
});

test("start-up names a symbolic link at HISTORY_FILE, and the first unsafe directory", async () => {
  const link = join(dir, "start-history-link");
  await symlink(await victim("start"), link);
  assert.equal(await unsafePlace([dir], [link]), `unsafe file: ${link} is a symbolic link: refused`);
  assert.equal(await unsafePlace([dir], [join(dir, "not-yet")]), undefined);
  const open = join(dir, "open-start");
  await mkdir(open);
  await chmod(open, 0o757);
  assert.match(
    (await unsafePlace([dir, open], [link])) ?? "",
    new RegExp(`^unsafe directory: ${open} is writable by others`),
  );
});

test("missing directories are made 0750, but never inside one others can write in", async () => {
  const made = join(dir, "made", "state");
  assert.equal(await preparePlaces({ create: [made] }), undefined);
  assert.equal((await stat(made)).mode & 0o7777 & ~0o750, 0, "0750 at most (the umask may take more)");

  const open = join(dir, "open-create");
  await mkdir(open);
  await chmod(open, 0o777);
  const inside = join(open, "sub", "state");
  assert.match(
    (await preparePlaces({ create: [inside] })) ?? "",
    new RegExp(`^unsafe directory: ${open} is writable`),
  );
  assert.deepEqual(await readdir(open), [], "nothing made there");

  const sticky = join(dir, "sticky-create");
  await mkdir(sticky);
  await chmod(sticky, 0o1777);
  assert.equal(
    await preparePlaces({ create: [join(sticky, "state")] }),
    undefined,
    "made inside a sticky one",
  );
  assert.match(
    (await preparePlaces({ create: [made], check: [sticky] })) ?? "",
    new RegExp(`^unsafe directory: ${sticky} is writable by others \\(mode 1777\\)`),
    "but a sticky one is not a place to write in",
  );
});

test("a directory owned by another user is refused", {
  skip: process.geteuid?.() !== 0 && "needs root",
}, async () => {
  const theirs = join(dir, "theirs");
  await mkdir(theirs, { mode: 0o755 });
  await chown(theirs, 65534, 65534);
  const r = await checkDirectory(theirs, 0);
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.error, new RegExp(`^${theirs} is owned by uid 65534`));
});

test("the daemon refuses to start with HISTORY_FILE in a world-writable directory, naming it", async () => {
  const base = join(dir, "start");
  const open = join(base, "open");
  await mkdir(open, { recursive: true });
  await chmod(open, 0o1777);
  const conf = join(base, "portsentry.conf");
  await writeFile(join(base, "ignore"), "127.0.0.1\n");
  await writeFile(
    conf,
    [
      `TCP_PORTS="1"`,
      `IGNORE_FILE="${base}/ignore"`,
      `HISTORY_FILE="${open}/history"`,
      `BLOCKED_FILE="${base}/blocked"`,
      `STATE_DIR="${base}/state"`,
      `SYSLOG_SOCKET="${base}/no-syslog.sock"`,
      "",
    ].join("\n"),
  );
  const r = spawnSync(process.execPath, [MAIN_JS, "-c", conf, "-tcp"], { encoding: "utf8", timeout: 15_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`unsafe directory: ${open} is writable by others`));
  assert.deepEqual(await readdir(open), [], "nothing written there");
});

test("history: a torn last line is cut back before the next append; the file holds whole lines", async () => {
  const path = join(dir, "torn-history");
  const h = new HistoryFile(path);
  await h.append("1 - first");
  await writeFile(path, "2 - to", { flag: "a" }); // a write cut short by a full disk
  await h.append("3 - third");
  assert.equal(await readFile(path, "utf8"), "1 - first\n3 - third\n");

  await writeFile(path, "x".repeat(10_000)); // a fragment longer than one read, no newline at all
  await h.append("4 - fourth");
  assert.equal(await readFile(path, "utf8"), "4 - fourth\n");

  await writeFile(path, `5 - fifth\n${"y".repeat(5000)}`);
  await h.append("6 - sixth");
  assert.equal(await readFile(path, "utf8"), "5 - fifth\n6 - sixth\n");

  // A whole line that lacks only its newline (an editor dropped it) is kept and ended.
  const whole = "1700000000 - 11/14/2023 22:13:20 Host: 192.0.2.7/192.0.2.7 Port: 143 TCP Blocked";
  await writeFile(path, whole);
  await h.append("7 - seventh");
  assert.equal(await readFile(path, "utf8"), `${whole}\n7 - seventh\n`);
});

test("state.db and its WAL are created 0600, and an old 0644 database is tightened", async () => {
  const stateDir = join(dir, "state");
  await mkdir(stateDir, { mode: 0o700 });
  const path = join(stateDir, "state.db");
  const old = new Database(path);
  old.close();
  await chmod(path, 0o644);
  const store = new StateStore(path);
  try {
    store.putBlock({
      address: "192.0.2.3",
      family: 4,
      mode: "tcp",
      port: 1,
      sinceMs: 1,
      expiresAtMs: 0,
      level: 1,
      recorded: false,
    });
    for (const f of await readdir(stateDir)) {
      assert.equal((await stat(join(stateDir, f))).mode & 0o777, 0o600, f);
    }
    assert.ok((await readdir(stateDir)).includes("state.db-wal"));
  } finally {
    store.close();
  }
  const link = join(stateDir, "linked.db");
  await symlink(await victim("db"), link);
  assert.throws(() => new StateStore(link), { code: "ELOOP" });
});

test("disk full is recognised by code and by a responder's message", () => {
  assert.equal(isDiskFull(Object.assign(new Error("x"), { code: "ENOSPC" })), true);
  assert.equal(isDiskFull(Object.assign(new Error("x"), { code: "SQLITE_FULL" })), true);
  assert.equal(isDiskFull(new Error("/etc/hosts.deny: ENOSPC: no space left on device, write")), true);
  assert.equal(isDiskFull(new Error("EACCES: permission denied")), false);
});
