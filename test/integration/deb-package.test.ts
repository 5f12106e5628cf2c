/**
 * The Debian package end to end (root): scripts/build-deb.sh builds two versions from this
 * checkout; the first is checked by lintian, installed with dpkg -i and exercised (the command,
 * the man page, the unit, the shipped config, the daemon under the package's wrapper); an
 * edited conffile must survive the upgrade to the second; dpkg --purge must leave no file, no
 * nftables table and no state. dpkg runs inside a lab namespace, so the maintainer scripts'
 * nft commands touch that namespace only. Never leaves the package installed.
 */

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { installedNodeArgs, READY, REPO_ROOT } from "../helpers/daemon.js";
import { createLab, type Lab, rootSkip } from "../netns/netns.js";

const PACKAGE = "portsentry-ts";
/** dpkg-query's format fields (dollar-brace is its syntax, not a template). */
const STATUS_FORMAT = "-f=$" + "{Status}";
const VERSION_FORMAT = "-f=$" + "{Version}";
const has = (cmd: string) => !spawnSync(cmd, ["--version"]).error;
const installed = (pkg: string) =>
  spawnSync("dpkg-query", ["-W", STATUS_FORMAT, pkg], { encoding: "utf8" }).stdout.includes("ok installed");

/** Refuse to run where the package (or a real portsentry) lives: purge would remove its state. */
function skipReason(): string | false {
  const root = rootSkip();
  if (root !== false) return root;
  for (const tool of ["dpkg-deb", "lintian", "systemd-analyze"])
    if (!has(tool)) return `needs ${tool} (setup.sh)`;
  if (installed(PACKAGE) || installed("portsentry")) return "a portsentry package is installed here";
  for (const path of ["/etc/portsentry", "/var/lib/portsentry", "/usr/lib/portsentry"]) {
    if (existsSync(path)) return `${path} exists: this machine runs portsentry`;
  }
  return false;
}

test("the .deb: lintian, install, man page, unit, check-config, conffile kept on upgrade, purge leaves nothing", {
  skip: skipReason(),
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ps-deb-"));
  let lab: Lab | undefined;
  try {
    lab = await createLab({ name: "deb", hosts: 1 });
    const l = lab;
    const upstream = (
      JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
    ).version;
    const build = (version: string): string =>
      execFileSync("bash", [join(REPO_ROOT, "scripts/build-deb.sh"), dir], {
        env: { ...process.env, DEB_VERSION: version },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 300_000,
      }).trim();
    const v1 = `${upstream}-1~test1`;
    const v2 = `${upstream}-1~test2`;
    const deb1 = build(v1);
    const deb2 = build(v2);
    t.diagnostic(`package size: ${readFileSync(deb1).length} bytes`);

    const lint = spawnSync("lintian", ["--tag-display-limit", "0", deb1], { encoding: "utf8" });
    assert.deepEqual(
      lint.stdout.split("\n").filter((line) => line.startsWith("E:")),
      [],
      `lintian errors:\n${lint.stdout}`,
    );

    // dpkg in the lab's target namespace: its scripts' nft commands stay there.
    const inNs = (argv: readonly string[]) => l.exec(l.target, argv, { timeoutMs: 120_000 });
    const started = performance.now();
    const install1 = await inNs(["dpkg", "-i", deb1]);
    assert.ok(install1.ok, install1.stderr);
    t.diagnostic(`dpkg -i: ${Math.round(performance.now() - started)} ms`);
    assert.match(install1.stdout, /installed, not started/);

    const version = await inNs(["portsentry", "--version"]);
    assert.ok(version.ok, version.stderr);
    assert.match(version.stdout, new RegExp(`portsentry ${upstream.replaceAll(".", "\\.")}`));
    assert.equal(
      (await inNs(["man", "-w", "portsentry"])).stdout.trim(),
      "/usr/share/man/man8/portsentry.8.gz",
    );
    const page = await inNs(["man", "-P", "cat", "portsentry"]);
    assert.ok(page.ok && /^SYSTEMD$/m.test(page.stdout), page.stderr);
    const verify = await inNs(["systemd-analyze", "verify", "/lib/systemd/system/portsentry.service"]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /portsentry\.service:/);
    const check = await inNs(["portsentry", "check-config"]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^KILL_FIREWALL="nftables"$/m);

    // The daemon under the package's wrapper, in the namespace: armed, then stopped; its
    // nftables table stays (blocks outlive the daemon) until the package is purged.
    const daemon = l.spawn(l.target, ["/usr/sbin/portsentry", "-tcp"]);
    await l.waitForOutput(daemon, READY, 30_000);
    // The wrapper execs node itself (the service's main process) with the command's flags.
    const argv = (await readFile(`/proc/${daemon.pid}/cmdline`, "utf8")).split("\0");
    assert.deepEqual(argv.slice(0, 1 + installedNodeArgs().length), [
      "/usr/bin/node",
      ...installedNodeArgs(),
    ]);
    const rssKb = Number(
      /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${daemon.pid}/status`, "utf8"))?.[1],
    );
    t.diagnostic(`idle RSS under /usr/sbin/portsentry -tcp: ${rssKb} kB`);
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited).code, 0, daemon.stderr.slice(-500));
    assert.match((await inNs(["nft", "list", "tables"])).stdout, /table inet portsentry/);
    assert.ok(existsSync("/var/lib/portsentry/state.db"));

    // Upgrade: an edited conffile is kept (no prompt: stdin is /dev/null, dpkg would fail).
    await appendFile("/etc/portsentry/portsentry.ignore", "192.0.2.99 # added by the administrator\n");
    const install2 = await inNs(["dpkg", "-i", deb2]);
    assert.ok(install2.ok, install2.stderr);
    assert.equal(execFileSync("dpkg-query", ["-W", VERSION_FORMAT, PACKAGE], { encoding: "utf8" }), v2);
    assert.match(await readFile("/etc/portsentry/portsentry.ignore", "utf8"), /^192\.0\.2\.99 # added/m);

    // Purge: no file of the package, no state, no table.
    const files = execFileSync("dpkg", ["-L", PACKAGE], { encoding: "utf8" }).split("\n");
    const ours = files.filter((f) =>
      /^\/(usr\/lib\/portsentry|etc\/portsentry|usr\/share\/doc\/portsentry-ts|usr\/share\/portsentry|usr\/sbin\/portsentry|lib\/systemd\/system\/portsentry|usr\/share\/man\/man[58]\/portsentry|etc\/(default|logrotate\.d)\/portsentry|etc\/fail2ban\/filter\.d\/portsentry\.local)/.test(
        f,
      ),
    );
    assert.ok(ours.length > 50, `${ours.length} files listed`);
    const purge = await inNs(["dpkg", "--purge", PACKAGE]);
    assert.ok(purge.ok, purge.stderr);
    assert.equal(installed(PACKAGE), false);
    assert.deepEqual(
      ours.filter((f) => existsSync(f)),
      [],
      "files left after purge",
    );
    assert.equal(existsSync("/var/lib/portsentry"), false, "state left after purge");
    assert.doesNotMatch((await inNs(["nft", "list", "tables"])).stdout, /portsentry/);
  } finally {
    // Never leave the package behind, also after a failure (inside the namespace, if any).
    if (installed(PACKAGE)) {
      const argv = ["dpkg", "--purge", PACKAGE];
      if (lab !== undefined) await lab.exec(lab.target, argv, { timeoutMs: 120_000 });
      else spawnSync(argv[0] ?? "dpkg", argv.slice(1));
    }
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});
