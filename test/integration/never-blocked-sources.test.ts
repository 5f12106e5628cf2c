/**
 * Sources no host can own are never blocked (docs/operations.md, self-protection): SYNs to a
 * trap port forged from broadcast, multicast, unspecified, 240/4 and IPv4-mapped sources, and
 * from the lab subnet's broadcast address, reach the daemon (`-stcp`, nftables) with the kernel
 * trap off and on; none of them may end in the blocked sets, the history file or a "has been
 * blocked" line. Two ordinary forged sources, sent last, must be blocked in the same run: the
 * checks can fail. `portsentry block` refuses the same addresses.
 *
 * The frames are written raw onto the forger's link (AF_PACKET through python3), addressed to
 * the target's MAC with valid IPv4 header and TCP checksums, so the target's stack and its
 * nftables hooks see them as they would see a forger's; no answer leaves the lab.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { type DaemonFiles, MAIN_JS, READY, writeDaemonFiles } from "../helpers/daemon.js";
import { blockedSet } from "../helpers/nft-sets.js";
import { hex, linkMac, SEND_RAW_PY, synFrame } from "../helpers/raw-frames.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const TRAP_TCP = 143;
/** Forged sources that must never be blocked, with the reason the daemon gives (if it logs one). */
const NEVER4 = ["255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0", "240.0.0.1", "192.0.2.255"];
const NEVER6 = ["::", "ff02::1", "::ffff:192.0.2.1", "::ffff:198.51.100.7"];
/** What a mapped source would be blocked as, were it normalised and blocked. */
const MAPPED_AS4 = ["192.0.2.1", "198.51.100.7"];
/** Ordinary sources no lab host owns: these are blocked. */
const HONEST4 = "192.0.2.77";
const HONEST6 = "2001:db8::77";

describe("sources no host can own are never blocked", { skip: rootSkip() }, () => {
  let lab: Lab;
  let forger: ScannerHost;
  let targetMac: string;
  let forgerMac: string;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    lab = await createLab({ name: "psnever", hosts: 1 });
    forger = lab.scanner(1);
    targetMac = await linkMac(lab, lab.target, lab.target.iface);
    forgerMac = await linkMac(lab, forger, forger.iface);
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  const nftSet = (family: 4 | 6) => blockedSet(lab, lab.target, family);
  const send = async (sources: readonly string[]): Promise<void> => {
    const frames = sources.map((src) =>
      hex(synFrame(targetMac, forgerMac, src, src.includes(":") ? lab.target.v6 : lab.target.v4, TRAP_TCP)),
    );
    await lab.execOk(forger, ["python3", "-c", SEND_RAW_PY, forger.iface, ...frames]);
  };

  for (const kernelTrap of ["0", "1"] as const) {
    test(`KERNEL_TRAP="${kernelTrap}": forged broadcast, multicast, unspecified and mapped sources are not blocked`, async () => {
      const files: DaemonFiles = await writeDaemonFiles({
        TCP_PORTS: String(TRAP_TCP),
        BLOCK_TCP: "1",
        BLOCK_UDP: "0",
        KILL_FIREWALL: "nftables",
        KERNEL_TRAP: kernelTrap,
        SCAN_TRIGGER: "0",
        // One forged SYN each: the long ban at once (probation has a test of its own).
        PROBATION_TIMEOUT: "0",
      });
      cleanup.push(files.remove);
      const daemon: LabProcess = lab.spawn(lab.target, ["node", MAIN_JS, "-c", files.conf, "-stcp"]);
      try {
        await lab.waitForOutput(daemon, READY, 20_000);
        if (kernelTrap === "1") assert.match(daemon.stderr, /Kernel trap for stcp/, daemon.tail());
        // The forged sources first, the honest ones after them: once those are blocked, the
        // forged ones have been through the same path.
        await send([...NEVER4, ...NEVER6]);
        // Without the kernel trap the daemon judges them and says so; with it, the trap's own
        // rules let them go (the capture leaves the kernel's modes to it: one probe, one hit).
        if (kernelTrap === "0")
          await lab.waitFor(() => daemon.stderr.includes("Host 255.255.255.255 will not be blocked"), {
            timeoutMs: 10_000,
            what: "the forged broadcast source reported as never blocked",
          });
        await send([HONEST4, HONEST6]);
        await lab.waitFor(
          async () => (await nftSet(4)).includes(HONEST4) && (await nftSet(6)).includes(HONEST6),
          {
            timeoutMs: 10_000,
            what: `${HONEST4} and ${HONEST6} in the blocked sets`,
          },
        );
        await lab.waitForFileContains(files.history, `Host: ${HONEST6}/`, 10_000);
        const set4 = await nftSet(4);
        const set6 = await nftSet(6);
        const history = await readFile(files.history, "utf8");
        for (const address of [...NEVER4, ...NEVER6, ...MAPPED_AS4]) {
          const set = address.includes(":") ? set6 : set4;
          assert.ok(!set.includes(address), `${address} in the nft set: ${set.join(", ")}`);
          assert.ok(!history.includes(`Host: ${address}/`), `${address} in the history: ${history}`);
          assert.ok(
            !daemon.stderr.includes(`Host ${address} has been blocked`),
            `${address} reported blocked`,
          );
        }
        // The control path refuses them too (an IPv4-mapped address is its IPv4 address there).
        for (const address of ["::", "255.255.255.255", "224.0.0.1", "ff02::1", "::ffff:192.0.2.1"]) {
          const r = await lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, "block", address]);
          assert.equal(r.code, 1, `block ${address}: ${r.stdout}${r.stderr}`);
          assert.match(r.stderr, /\(protected\)/, `block ${address}`);
        }
        assert.deepEqual([...set4].sort(), [HONEST4], "only the honest IPv4 source is blocked");
        assert.deepEqual([...set6].sort(), [HONEST6], "only the honest IPv6 source is blocked");
        for (const line of daemon.stderr.split("\n"))
          if (/will not be blocked/.test(line)) console.log(`# ${line}`);
      } finally {
        daemon.kill("SIGTERM");
        await daemon.exited;
        await lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);
      }
    });
  }
});
