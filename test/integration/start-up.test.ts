/**
 * Start-up as a hostile host treats it: each failure that comes after the kernel trap and the
 * capture are set up exits 1 within seconds, leaves no process and no trap (the host is as a
 * stopped daemon leaves it); a SIGHUP 100 ms after the spawn is survived and applied once the
 * daemon is armed; a SIGTERM during start-up rolls back and exits 0.
 */

import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DaemonFiles, MAIN_JS, READY, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, type Lab, type LabProcess, rootSkip } from "../netns/netns.js";

const TRAP_TCP = 143;
const EXIT_DEADLINE_MS = 20_000;

describe("start-up", { skip: rootSkip() }, () => {
  let lab: Lab;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    lab = await createLab({ name: "psstart", hosts: 1 });
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  /** A config with the kernel trap and a capture: the most that start-up sets up. */
  const files = async (): Promise<DaemonFiles> => {
    const f = await writeDaemonFiles({
      KILL_FIREWALL: "nftables",
      KERNEL_TRAP: "1",
      BLOCK_TCP: "1",
      BLOCK_UDP: "0",
      TCP_PORTS: String(TRAP_TCP),
    });
    cleanup.push(f.remove);
    return f;
  };
  const spawn = (f: DaemonFiles): LabProcess =>
    lab.spawn(lab.target, ["node", MAIN_JS, "-c", f.conf, "-stcp"]);
  const table = async (): Promise<string> =>
    (await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout;
  /** Every portsentry still running in the lab with this config. */
  const running = async (f: DaemonFiles): Promise<string> =>
    (await lab.exec(lab.target, ["pgrep", "-af", f.conf])).stdout.trim();

  const expectFailedStart = async (f: DaemonFiles, reason: RegExp): Promise<void> => {
    const daemon = spawn(f);
    const status = await lab.waitFor(() => daemon.exitStatus, {
      timeoutMs: EXIT_DEADLINE_MS,
      what: `the daemon to exit (${reason})`,
    });
    assert.equal(status.code, 1, daemon.tail());
    assert.match(daemon.stderr, reason);
    assert.doesNotMatch(daemon.stderr, new RegExp(READY));
    assert.equal(await running(f), "", "no process left");
    assert.doesNotMatch(await table(), /chain trap/, "no trap left half-armed");
  };

  test("something other than a socket at STATE_DIR/portsentry.sock: exit 1, nothing left armed", async () => {
    const f = await files();
    await mkdir(join(f.dir, "state"), { mode: 0o700 });
    await writeFile(join(f.dir, "state", "portsentry.sock"), "not a socket\n");
    await expectFailedStart(f, /portsentry\.sock/);
  });

  test("the NFLOG group held by another process: exit 1, nothing left armed", async () => {
    const f = await files();
    const holder = lab.spawn(lab.target, ["tcpdump", "-i", "nflog:31337", "-w", "/dev/null"]);
    try {
      await lab.waitForOutput(holder, "listening on", 10_000, "stderr");
      await expectFailedStart(f, /kernel trap/);
    } finally {
      await holder.stop();
    }
  });

  test("a STATE_DIR that group members may write: exit 1, nothing left armed", async () => {
    const f = await files();
    await mkdir(join(f.dir, "state"));
    await chmod(join(f.dir, "state"), 0o770);
    await expectFailedStart(f, /state/);
  });

  test("a SIGHUP during start-up (as soon as node catches it) is survived and applied once armed", async () => {
    const f = await files();
    const daemon = spawn(f);
    try {
      await lab.waitFor(() => daemon.child.pid !== undefined, { what: "the daemon's pid" });
      const pid = daemon.child.pid as number;
      // As soon as node catches SIGHUP (SigCgt bit 0: the entry's first statement), long before
      // the daemon is armed. A fixed delay raced node's own start on a busy machine, where the
      // signal's default action killed it before any of our code ran.
      await lab.waitFor(
        async () => {
          const status = await readFile(`/proc/${pid}/status`, "utf8");
          const caught = /^SigCgt:\s+([0-9a-f]+)$/m.exec(status)?.[1];
          return caught !== undefined && (BigInt(`0x${caught}`) & 1n) === 1n;
        },
        { intervalMs: 2, what: "node catching SIGHUP" },
      );
      // Still starting: without the entry's early handler, SIGHUP is caught only once armed.
      assert.ok(!daemon.stderr.includes(READY), `the daemon was ready before the SIGHUP: ${daemon.tail()}`);
      process.kill(pid, "SIGHUP");
      await lab.waitForOutput(daemon, "Configuration reloaded", 20_000, "stderr");
      assert.match(daemon.stderr, new RegExp(READY));
      assert.ok(
        daemon.stderr.indexOf(READY) < daemon.stderr.indexOf("Configuration reloaded"),
        daemon.tail(),
      );
      assert.equal(daemon.exitStatus, undefined, "still running");
      assert.match(await table(), /chain trap/);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  });

  test("a SIGTERM during start-up rolls back and exits 0; blocks stay", async () => {
    const f = await files();
    await lab.execOk(lab.target, [
      "nft",
      "add table inet portsentry; add set inet portsentry keep4 { type ipv4_addr; }",
    ]);
    const daemon = spawn(f);
    await lab.waitForOutput(daemon, "is starting", 20_000, "stderr");
    process.kill(daemon.child.pid as number, "SIGTERM");
    const status = await lab.waitFor(() => daemon.exitStatus, {
      timeoutMs: EXIT_DEADLINE_MS,
      what: "the daemon to exit after SIGTERM",
    });
    assert.equal(status.code, 0, daemon.tail());
    // Either the start-up was interrupted between two steps, or it had just armed and stopped.
    assert.match(daemon.stderr, /SIGTERM during start-up: stopped before arming|shutting down/);
    assert.equal(await running(f), "", "no process left");
    const after = await table();
    assert.doesNotMatch(after, /chain trap/);
    assert.match(after, /keep4/, "the table and its sets stay (blocks stay in force)");
  });
});
