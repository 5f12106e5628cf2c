/**
 * Nothing to do, nothing done (#17): the daemon at rest, started as shipped (kernel trap on,
 * the systemd unit's modes -atcp -audp), must not wake up more than about once a second. The
 * count is the kernel's own: the context switches of all the daemon's threads from /proc, over
 * a few seconds in which nothing reaches it. A counter, not a clock: a slow machine does not
 * make it fail, a timer that ticks at rest does. Without timers, a new address of the host still
 * reaches the kernel trap's never-trapped set (through rtnetlink), and a flushed ruleset is
 * re-armed (through nft monitor). Not yet counted: the capture's listener re-read every 10 s
 * (CAPTURE_LIMITS.listenerPollIntervalMs, ~60 switches each through the thread pool), which falls
 * after the window (#17, open).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type DaemonFiles, READY, shippedArgv, writeDaemonFiles } from "../helpers/daemon.js";
import { contextSwitches, passTime } from "../helpers/proc.js";
import { createLab, type Lab, rootSkip, waitFor } from "../netns/netns.js";

/** How long the daemon is left alone before counting: the start's last steps settle. */
const SETTLE_MS = 2_000;
/** The counted window. */
const WINDOW_MS = 5_000;
/** The goal is one wake-up a second; the slack allows a timer or two that fall in the window. */
const MAX_SWITCHES = (WINDOW_MS / 1000) * 1 + 3;

describe("the daemon at rest", { skip: rootSkip() }, () => {
  let lab: Lab;
  let files: DaemonFiles;

  before(async () => {
    lab = await createLab({ name: "psidle", hosts: 1 });
    files = await writeDaemonFiles({
      KILL_FIREWALL: "nftables",
      KERNEL_TRAP: "1",
      BLOCK_TCP: "1",
      BLOCK_UDP: "1",
    });
  });
  after(async () => {
    await lab?.destroy();
    await files?.remove();
  });

  test(`wakes up at most ${MAX_SWITCHES} times in ${WINDOW_MS / 1000} s with nothing happening`, async (t) => {
    const daemon = lab.spawn(lab.target, shippedArgv(files.conf));
    try {
      await lab.waitForOutput(daemon, new RegExp(`${READY}|ERROR`), 20_000, "stderr");
      assert.match(daemon.stderr, new RegExp(READY), daemon.tail());
      // `ip netns exec` execs the command: the child's pid is the daemon's.
      const pid = daemon.child.pid;
      assert.ok(pid !== undefined);
      await passTime(SETTLE_MS, "the start to settle");
      const before = await contextSwitches(pid);
      await passTime(WINDOW_MS, "the counted window");
      const switches = (await contextSwitches(pid)) - before;
      t.diagnostic(`${switches} context switches in ${WINDOW_MS} ms at rest`);
      assert.ok(
        switches <= MAX_SWITCHES,
        `${switches} context switches in ${WINDOW_MS} ms at rest (at most ${MAX_SWITCHES})\n${daemon.tail()}`,
      );
      // With no timer, the kernel trap still follows a new address of this host at once.
      const added = "198.51.100.77";
      await lab.exec(lab.target, ["ip", "addr", "add", `${added}/32`, "dev", lab.target.iface]);
      await waitFor(
        async () =>
          (await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout.includes(added),
        { timeoutMs: 5_000, what: `${added} in the kernel trap's host set` },
      );
      // ... and re-arms the trap after `nft flush ruleset` (told by `nft monitor`).
      await lab.exec(lab.target, ["nft", "flush", "ruleset"]);
      await waitFor(
        async () =>
          (await lab.exec(lab.target, ["nft", "list", "table", "inet", "portsentry"])).stdout.includes(
            "chain trap {",
          ),
        { timeoutMs: 5_000, what: "the kernel trap re-armed after nft flush ruleset" },
      );
    } finally {
      await daemon.stop();
    }
  });
});
