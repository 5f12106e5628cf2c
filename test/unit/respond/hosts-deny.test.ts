import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { HostsDenyResponder } from "../../../src/respond/hosts-deny.js";
import type { BlockTarget } from "../../../src/respond/responder.js";

const dir = await mkdtemp(join(tmpdir(), "ps-hostsdeny-"));
after(() => rm(dir, { recursive: true, force: true }));

const v4: BlockTarget = { address: "192.0.2.7", family: 4, port: 143, mode: "tcp" };
const v6: BlockTarget = { address: "2001:db8::7", family: 6, port: 1, mode: "stcp" };

test("adds one line per host, IPv6 in brackets, keeps other lines and the file mode", async () => {
  const path = join(dir, "hosts.deny");
  await writeFile(path, "# operator's own\nsshd: 198.51.100.1\n");
  await chmod(path, 0o640);
  const r = new HostsDenyResponder(path, "ALL: $TARGET$");
  assert.deepEqual(await r.start(), { ok: true });
  assert.deepEqual(await r.ban(v4, 0), { ok: true });
  assert.deepEqual(await r.ban(v4, 0), { ok: true });
  assert.deepEqual(await r.ban(v6, 0), { ok: true });
  assert.equal(
    await readFile(path, "utf8"),
    "# operator's own\nsshd: 198.51.100.1\nALL: 192.0.2.7\nALL: [2001:db8::7]\n",
  );
  assert.equal((await stat(path)).mode & 0o777, 0o640);
  await r.unban(v4);
  assert.equal(await readFile(path, "utf8"), "# operator's own\nsshd: 198.51.100.1\nALL: [2001:db8::7]\n");
});

test("concurrent bans are serialised and none is lost", async () => {
  const path = join(dir, "concurrent.deny");
  const r = new HostsDenyResponder(path, "ALL: $TARGET$ : DENY");
  const targets = Array.from({ length: 50 }, (_, i) => ({ ...v4, address: `198.51.100.${i}` }));
  const results = await Promise.all(targets.map((t) => r.ban(t, 0)));
  assert.ok(results.every((x) => x.ok));
  const lines = (await readFile(path, "utf8")).trim().split("\n");
  assert.equal(lines.length, 50);
  assert.equal(new Set(lines).size, 50);
});

test("a symlinked or world-writable file is refused", async () => {
  const real = join(dir, "real");
  await writeFile(real, "");
  const link = join(dir, "link.deny");
  await symlink(real, link);
  const viaLink = await new HostsDenyResponder(link, "ALL: $TARGET$").ban(v4, 0);
  assert.equal(viaLink.ok, false);
  assert.match(viaLink.ok ? "" : viaLink.error, /symbolic link/);
  assert.equal(await readFile(real, "utf8"), "");

  const open = join(dir, "open.deny");
  await writeFile(open, "");
  await chmod(open, 0o666);
  const r = await new HostsDenyResponder(open, "ALL: $TARGET$").ban(v4, 0);
  assert.match(r.ok ? "" : r.error, /world-writable/);
});

test("a bind-mounted hosts.deny (EBUSY on rename) is rewritten in place, said once", {
  skip: process.getuid?.() !== 0 ? "needs root to bind-mount" : false,
}, async () => {
  const real = join(dir, "real.deny");
  const mounted = join(dir, "mounted.deny");
  await writeFile(real, "sshd: 198.51.100.1\n");
  await writeFile(mounted, "");
  execFileSync("mount", ["--bind", real, mounted]);
  try {
    const warnings: string[] = [];
    const r = new HostsDenyResponder(mounted, "ALL: $TARGET$", (m) => warnings.push(m));
    assert.deepEqual(await r.start(), { ok: true });
    assert.deepEqual(await r.ban(v4, 0), { ok: true });
    assert.deepEqual(await r.ban(v6, 0), { ok: true });
    assert.deepEqual(await r.ban(v4, 0), { ok: true });
    // Through the mount: the file the host sees changed, not a copy beside it.
    assert.equal(await readFile(real, "utf8"), "sshd: 198.51.100.1\nALL: 192.0.2.7\nALL: [2001:db8::7]\n");
    assert.deepEqual(await r.unban(v4), { ok: true });
    assert.equal(await readFile(real, "utf8"), "sshd: 198.51.100.1\nALL: [2001:db8::7]\n");
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /mounted\.deny is a mount point/);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith(".hosts.deny.portsentry")),
      [],
      "no temp file left",
    );
  } finally {
    execFileSync("umount", [mounted]);
  }
});
