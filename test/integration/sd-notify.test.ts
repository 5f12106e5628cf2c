/**
 * systemd Type=notify end to end: the daemon runs in a lab namespace with a NOTIFY_SOCKET the
 * test binds itself (as systemd would). READY=1 must mean armed: a probe sent the moment it
 * arrives is detected. Then STATUS=, watchdog pings, RELOADING=1/READY=1 on SIGHUP, STOPPING=1.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type DaemonFiles, MAIN_JS, TCP_CLIENT_JS, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, type Lab, rootSkip } from "../netns/netns.js";

interface DgramServer {
  bind(path: string): void;
  on(event: "error", listener: (err: Error) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: "unix_dgram", onMessage: (buf: Buffer) => void): DgramServer;
}

const TRAP_PORT = 31337;

test("Type=notify: READY=1 once armed, STATUS=, watchdog, reload, STOPPING=1", {
  skip: rootSkip(),
}, async () => {
  const sockDir = await mkdtemp(join(tmpdir(), "ps-notify-"));
  const notifyPath = join(sockDir, "notify.sock");
  const messages: string[] = [];
  const server = (createRequire(import.meta.url)("unix-dgram") as UnixDgram).createSocket(
    "unix_dgram",
    (buf) => messages.push(buf.toString("utf8")),
  );
  server.on("error", (err) => messages.push(`error: ${err.message}`));
  server.bind(notifyPath);
  let lab: Lab | undefined;
  let files: DaemonFiles | undefined;
  try {
    lab = await createLab({ name: "notify", hosts: 1 });
    const scanner = lab.scanner(1);
    files = await writeDaemonFiles({ TCP_PORTS: String(TRAP_PORT), BLOCK_TCP: "0", BLOCK_UDP: "0" });
    const daemon = lab.spawn(lab.target, ["node", MAIN_JS, "-c", files.conf, "-tcp"], {
      env: { ...process.env, NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: "1000000" },
    });
    const readyIndex = await lab.waitFor(
      () => {
        const i = messages.findIndex((m) => m.split("\n").includes("READY=1"));
        return i >= 0 ? i + 1 : undefined;
      },
      { timeoutMs: 20_000, what: `READY=1; daemon: ${daemon.stderr.slice(-500)}` },
    );
    // Armed means armed: the first probe after READY=1 is seen.
    await lab.exec(scanner, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, String(TRAP_PORT), "3000"], {
      timeoutMs: 10_000,
    });
    await lab.waitFor(
      () =>
        daemon.stderr.includes(
          `attackalert: Connect from host: ${scanner.v4}/${scanner.v4} to TCP port: ${TRAP_PORT}`,
        ),
      { timeoutMs: 5_000, what: "the probe sent right after READY=1" },
    );
    const ready = messages[readyIndex - 1] ?? "";
    assert.match(ready, /^STATUS=armed: tcp; 0 hosts blocked; 0 probes in the last minute$/m);
    assert.ok(
      messages.slice(0, readyIndex - 1).every((m) => !m.includes("READY=1")),
      "nothing before READY=1 claims readiness",
    );

    // Watchdog: WATCHDOG_USEC=1 s → a ping every 0.5 s from the event loop.
    await lab.waitFor(() => messages.filter((m) => m === "WATCHDOG=1").length >= 3, {
      timeoutMs: 10_000,
      what: "three watchdog pings",
    });

    // SIGHUP: RELOADING=1 with CLOCK_MONOTONIC (systemd ≥ 253), then READY=1 again.
    const before = messages.length;
    daemon.kill("SIGHUP");
    const reloading = await lab.waitFor(
      () => messages.slice(before).find((m) => m.startsWith("RELOADING=1")),
      { timeoutMs: 10_000, what: "RELOADING=1" },
    );
    assert.match(reloading, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    await lab.waitFor(
      () => {
        const after = messages.slice(before);
        const r = after.findIndex((m) => m.startsWith("RELOADING=1"));
        return after.slice(r + 1).some((m) => m.split("\n").includes("READY=1"));
      },
      { timeoutMs: 10_000, what: "READY=1 after the reload" },
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    daemon.kill("SIGTERM");
    await lab.waitFor(() => messages.includes("STOPPING=1"), { timeoutMs: 10_000, what: "STOPPING=1" });
    const status = await daemon.exited;
    assert.equal(status.code, 0, daemon.stderr.slice(-500));
    assert.ok(!messages.some((m) => m.startsWith("error:")), messages.join(" | "));
  } finally {
    await lab?.destroy();
    await files?.remove();
    server.close();
    await rm(sockDir, { recursive: true, force: true });
  }
});
