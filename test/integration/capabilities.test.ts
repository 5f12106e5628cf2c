/**
 * The capability model of packaging/systemd/portsentry.service, checked without systemd:
 * `capsh --drop=...` shrinks the bounding set as CapabilityBoundingSet= does, so root is left
 * with exactly what the unit grants. (1) the start-up check sees a dropped capability as
 * missing; (2) the daemon, left with CAP_NET_RAW, CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only,
 * binds ports below 1024, writes hosts.deny and its files, and its nft child blocks a scanner.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  type DaemonFiles,
  MAIN_JS,
  READY,
  REPO_ROOT,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const run = promisify(execFile);
const CAPABILITIES_JS = join(REPO_ROOT, "dist/src/sensors/capabilities.js");
/** The unit's grant: CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13). */
const UNIT_MASK = 0x3400n;

function capshSkip(): string | false {
  const root = rootSkip();
  if (root) return root;
  for (const path of ["/usr/sbin/capsh", "/sbin/capsh"]) {
    try {
      accessSync(path, constants.X_OK);
      return false;
    } catch {
      // try the next place
    }
  }
  return "needs capsh (Debian package libcap2-bin)";
}

/** capsh's comma-separated names of every capability the kernel has, except those in `keep`. */
async function capabilityNamesExcept(keep: bigint): Promise<string> {
  const last = BigInt(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
  const drop = ((1n << (last + 1n)) - 1n) & ~keep;
  const { stdout } = await run("capsh", [`--decode=0x${drop.toString(16)}`]);
  const names = stdout.trim().split("=")[1];
  assert.ok(names, `capsh --decode printed ${stdout}`);
  return names;
}

/** capsh's arguments to run `argv` with `drop` removed from the bounding set. */
const capshArgs = (drop: string, argv: readonly string[]) => [
  `--drop=${drop}`,
  "--",
  "-c",
  'exec "$0" "$@"',
  ...argv,
];

describe("capabilities under a reduced bounding set", { skip: capshSkip() }, () => {
  test("capsh --drop=cap_net_raw: the start-up check reports CAP_NET_RAW missing", async () => {
    const script = `
      const c = await import(${JSON.stringify(CAPABILITIES_JS)});
      const needs = c.neededCapabilities(["stcp", "tcp"], {
        tcpPorts: [143], udpPorts: [], blockTcp: 1, blockUdp: 1, killFirewall: "nftables", killRoute: undefined,
      });
      console.log(JSON.stringify({
        missing: c.missingCapabilities(c.ALL_CAPABILITIES),
        messages: c.describeMissing(needs).map((m) => m.message),
      }));`;
    const { stdout } = await run(
      "capsh",
      capshArgs("cap_net_raw", [process.execPath, "--input-type=module", "-e", script]),
      { timeout: 10_000 },
    );
    assert.deepEqual(JSON.parse(stdout), {
      missing: ["CAP_NET_RAW"],
      messages: ["missing capability CAP_NET_RAW: needed for -stcp (packet capture)"],
    });
  });

  test("root limited to the unit's three capabilities: nothing missing, everything else gone", async () => {
    const drop = await capabilityNamesExcept(UNIT_MASK);
    const { stdout } = await run("capsh", capshArgs(drop, ["/bin/grep", "^CapEff:", "/proc/self/status"]), {
      timeout: 10_000,
    });
    assert.match(stdout, /^CapEff:\s+0000000000003400$/m);
  });

  describe("the daemon with the unit's capabilities only", () => {
    let lab: Lab;
    let files: DaemonFiles;
    let daemon: LabProcess;
    let scanner: ScannerHost;

    before(async () => {
      lab = await createLab({ name: "pspkg", hosts: 1 });
      scanner = lab.scanners[0] as ScannerHost;
      files = await writeDaemonFiles({
        TCP_PORTS: "1,143,31337",
        UDP_PORTS: "7",
        BLOCK_TCP: "1",
        BLOCK_UDP: "1",
        KILL_FIREWALL: "nftables",
        KILL_HOSTS_DENY: "ALL: $TARGET$",
      });
      const drop = await capabilityNamesExcept(UNIT_MASK);
      daemon = lab.spawn(lab.target, [
        "capsh",
        ...capshArgs(drop, ["node", MAIN_JS, "-c", files.conf, "-tcp", "-udp"]),
      ]);
      await lab.waitForOutput(daemon, READY, 15_000);
    });

    after(async () => {
      await lab?.destroy();
      await files?.remove();
    });

    test("binds ports below 1024 and blocks a scanner through nft, hosts.deny and history", async () => {
      const status = await readFile(`/proc/${daemon.pid}/status`, "utf8").catch(() => "");
      assert.ok(daemon.stderr.includes("Going into listen mode on TCP port: 143"), daemon.stderr);
      await lab.exec(scanner, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, "143", "2000"], {
        timeoutMs: 10_000,
      });
      await lab.waitFor(() => daemon.stderr.includes(`Host ${scanner.v4} has been blocked via nftables`), {
        timeoutMs: 5000,
        what: `nftables block of ${scanner.v4}\n${daemon.stderr}\n${status}`,
      });
      await lab.waitForFileContains(files.hostsDeny, `ALL: ${scanner.v4}`, 5000);
      await lab.waitForFileContains(files.history, `/${scanner.v4} Port: 143 TCP Blocked`, 5000);
      const set = await lab.execOk(lab.target, [
        "nft",
        "-j",
        "list",
        "set",
        "inet",
        "portsentry",
        "blocked4",
      ]);
      assert.match(set.stdout, new RegExp(`"${scanner.v4.replaceAll(".", "\\.")}"`));
      assert.doesNotMatch(daemon.stderr, /ERROR|EPERM|EACCES|Operation not permitted/);
    });
  });
});
