/**
 * Fleet defence end to end (issue #15): a real redis-server in the lab's middle namespace (its
 * own config, an ACL user with a password), four members each running the daemon (-stcp, the
 * kernel trap on) and scanners. Checked by traffic, by the kernel's sets, the logs and `blocked`.
 * One lab for every case, to keep the run short.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DaemonFiles, MAIN_JS, READY, writeDaemonFiles } from "../helpers/daemon.js";
import { blockedSet } from "../helpers/nft-sets.js";
import { memberAclRules, redisMissing, writeRedisConf } from "../helpers/redis-server.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const FLEET = "lab";
const PORT = 6390;
const PASSWORD = "member-secret-1";
const ADMIN = "admin-secret";
const TRAPS = "1,11,143,31337";

describe("fleet on Redis", { skip: rootSkip() || redisMissing }, () => {
  let lab: Lab;
  let dir: string;
  let redis: LabProcess;
  let redisConf: string;
  const files: DaemonFiles[] = [];
  const daemons: (LabProcess | undefined)[] = [];
  let members: ScannerHost[];

  const cli = (args: string[]) =>
    lab.exec(lab.target, [
      "redis-cli",
      "-h",
      lab.target.v4,
      "-p",
      String(PORT),
      "-a",
      ADMIN,
      "--no-auth-warning",
      ...args,
    ]);

  const cliOk = async (args: string[]) => {
    const r = await cli(args);
    assert.ok(r.ok && !r.stdout.startsWith("ERR"), `redis-cli ${args.join(" ")}: ${r.stdout} ${r.stderr}`);
  };

  const startRedis = async () => {
    redis = lab.spawn(lab.target, ["redis-server", redisConf]);
    await lab.waitForOutput(redis, /Ready to accept connections/, 10_000);
  };

  const startMember = async (i: number) => {
    const f = files[i];
    const m = members[i];
    if (f === undefined || m === undefined) throw new Error("no member");
    const d = lab.spawn(m, ["node", MAIN_JS, "-c", f.conf, "-stcp"]);
    await lab.waitForOutput(d, new RegExp(`${READY}|ERROR|exit`), 20_000, "stderr");
    assert.match(d.stderr, new RegExp(READY), d.tail());
    daemons[i] = d;
    return d;
  };

  const stopMember = async (i: number) => {
    const d = daemons[i];
    if (d === undefined) return;
    daemons[i] = undefined;
    const status = await d.stop(10_000);
    assert.equal(status.signal, null, `member ${i + 1} did not stop on SIGTERM:${d.tail(3000)}`);
  };

  /** An echo request from `from` to `to`, answered or not: the traffic check. */
  const answered = async (from: ScannerHost, to: string) => {
    const r = await lab.exec(from, ["ping", "-c", "1", "-W", "1", to], { timeoutMs: 5000 });
    return r.ok;
  };

  const probe = (from: ScannerHost, to: string, port: number, v6 = false) =>
    lab.exec(
      from,
      v6 // hping3 has no IPv6: one nmap SYN probe, no retries
        ? ["nmap", "-6", "-sS", "-Pn", "-n", "--max-retries", "0", "-p", String(port), to]
        : ["timeout", "5", "hping3", "-c", "1", "-S", "-p", String(port), to],
      { timeoutMs: 8000 },
    );

  before(async () => {
    lab = await createLab({ name: "fleet", hosts: 8 });
    dir = await mkdtemp(join(tmpdir(), "ps-fleet-"));
    members = [1, 2, 3, 4].map((i) => lab.scanner(i));
    redisConf = await writeRedisConf(dir, PORT, [lab.target.v4, lab.target.v6], {
      user: "member",
      password: PASSWORD,
      rules: memberAclRules(FLEET),
      adminPassword: ADMIN,
    });
    await startRedis();
    // Member 3 routes through the Redis host: 192.0.2.1 is its gateway (never to be blocked).
    await lab.execOk(members[2]!, ["ip", "route", "add", "default", "via", lab.target.v4]);
    for (let i = 0; i < 4; i++) {
      const f = await writeDaemonFiles({
        TCP_PORTS: TRAPS,
        KILL_FIREWALL: "nftables",
        KERNEL_TRAP: "1",
        // One probe per member is the point here: the long ban at once (no probation).
        PROBATION_TIMEOUT: "0",
        BLOCK_TCP: "1",
        BLOCK_UDP: "0",
        BLOCK_TIMEOUT: "3600",
        SCAN_TRIGGER: "1",
        FLEET_URL: `redis://${lab.target.v4}:${PORT}/0`,
        FLEET_NAME: FLEET,
        FLEET_MEMBER: `m${i + 1}`,
        FLEET_USER: "member",
        FLEET_PASSWORD_FILE: "fleet.password",
        FLEET_SCAN_TRIGGER: "3",
        FLEET_TRIGGER_WINDOW: "10m",
      });
      await writeFile(join(f.dir, "fleet.password"), `${PASSWORD}\n`, { mode: 0o600 });
      files.push(f);
    }
    await Promise.all([0, 1, 2, 3].map((i) => startMember(i)));
  });

  after(async () => {
    await lab?.destroy();
    for (const f of files) await f.remove();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const blockedEverywhere = async (address: string, family: 4 | 6) => {
    await lab.waitFor(
      async () => {
        for (const m of members) if (!(await blockedSet(lab, m, family)).includes(address)) return false;
        return true;
      },
      { timeoutMs: 10_000, what: `${address} in every member's blocked${family}` },
    );
  };

  test("one scanner probes member 1: blocked on all four (IPv4 and IPv6), by traffic, logged, origin m1", async () => {
    const scanner = lab.scanner(5);
    for (const m of members) assert.ok(await answered(scanner, m.v4), `${m.v4} answers before`);
    await probe(scanner, members[0]!.v4, 143);
    await blockedEverywhere(scanner.v4, 4);
    for (const m of members) assert.equal(await answered(scanner, m.v4), false, `${m.v4} drops the scanner`);
    for (const i of [1, 2, 3]) {
      const d = daemons[i]!;
      await lab.waitForOutput(d, `Host ${scanner.v4} has been blocked: fleet block from m1`, 5000, "stderr");
      const blocked = await lab.exec(members[i]!, ["node", MAIN_JS, "-c", files[i]!.conf, "blocked"]);
      assert.match(blocked.stdout, new RegExp(`${scanner.v4.replaceAll(".", "\\.")} .* m1`), blocked.stdout);
    }
    // IPv6: the same scanner's v6 address.
    assert.ok(await answered(scanner, members[3]!.v6));
    await probe(scanner, members[0]!.v6, 143, true);
    await blockedEverywhere(scanner.v6, 6);
    assert.equal(await answered(scanner, members[3]!.v6), false, "member 4 drops the v6 scanner");
  });

  test("a forged event naming member 3's gateway or its own address is refused and logged; malformed counted", async () => {
    const now = Date.now();
    for (const a of [lab.target.v4, members[2]!.v4]) {
      await cliOk([
        "XADD",
        `{${FLEET}}:events`,
        "*",
        "v",
        "1",
        "k",
        "block",
        "o",
        "forger",
        "a",
        a,
        "m",
        "stcp",
        "p",
        "1",
        "c",
        "forged",
        "s",
        String(now),
        "e",
        String(now + 600_000),
      ]);
    }
    await cliOk(["XADD", `{${FLEET}}:events`, "*", "v", "1", "k", "block", "o", "forger", "a", "not-an-ip"]);
    const d3 = daemons[2]!;
    await lab.waitForOutput(d3, `Host ${lab.target.v4} fleet block from forger refused`, 5000, "stderr");
    await lab.waitForOutput(d3, `Host ${members[2]!.v4} fleet block from forger refused`, 5000, "stderr");
    assert.ok(!(await blockedSet(lab, members[2]!, 4)).includes(lab.target.v4), "the gateway is not blocked");
    const status = await lab.exec(members[2]!, ["node", MAIN_JS, "-c", files[2]!.conf, "status", "--json"]);
    const fleet = (
      JSON.parse(status.stdout) as {
        result: { fleet: { malformed: number; refused: number; connected: boolean } };
      }
    ).result.fleet;
    assert.ok(fleet.malformed >= 1, status.stdout);
    assert.ok(fleet.refused >= 2, status.stdout);
    assert.equal(fleet.connected, true);
  });

  test("Redis down while member 2 blocks a new scanner: local block at once, the others after Redis is back; a member restarted meanwhile catches up", async () => {
    const scanner = lab.scanner(6);
    redis.kill("SIGKILL");
    await redis.exited;
    await stopMember(3); // member 4 is away during the outage
    await probe(scanner, members[1]!.v4, 143);
    await lab.waitFor(async () => (await blockedSet(lab, members[1]!, 4)).includes(scanner.v4), {
      what: "member 2 blocks locally while Redis is down",
    });
    assert.ok(!(await blockedSet(lab, members[0]!, 4)).includes(scanner.v4), "member 1 cannot know yet");
    await startRedis();
    await startMember(3);
    await blockedEverywhere(scanner.v4, 4);
    // Nothing applied twice: one history line per member.
    for (const i of [0, 2, 3]) {
      const lines = (
        await lab.exec(members[i]!, ["grep", "-c", `Host: ${scanner.v4}/`, files[i]!.history])
      ).stdout.trim();
      assert.equal(lines, "1", `member ${i + 1}'s history`);
    }
  });

  test("fleet trigger: one probe on each of members 1, 2, 3 blocks the source on all four after the third, not before", async () => {
    // SCAN_TRIGGER 3 on every member (the kernel trap then stays in userspace: it cannot count).
    for (const i of [0, 1, 2, 3]) {
      await stopMember(i);
      const f = files[i]!;
      const text = (await lab.execOk(members[i]!, ["cat", f.conf])).stdout.replace(
        'SCAN_TRIGGER="1"',
        'SCAN_TRIGGER="3"',
      );
      await writeFile(f.conf, text);
    }
    await Promise.all([0, 1, 2, 3].map((i) => startMember(i)));
    const sweeper = lab.scanner(7);
    await probe(sweeper, members[0]!.v4, 143);
    await probe(sweeper, members[1]!.v4, 143);
    // Two hits reported: not blocked anywhere (each report goes out within 100 ms).
    await lab.waitFor(
      async () => {
        const s = await lab.exec(members[1]!, ["node", MAIN_JS, "-c", files[1]!.conf, "status", "--json"]);
        return s.ok && s.stdout.includes('"hits":1');
      },
      { what: "member 2 counted its hit" },
    );
    for (const m of members)
      assert.ok(!(await blockedSet(lab, m, 4)).includes(sweeper.v4), "not before the third");
    await probe(sweeper, members[2]!.v4, 143);
    await blockedEverywhere(sweeper.v4, 4);
    assert.equal(await answered(sweeper, members[3]!.v4), false, "member 4, never probed, drops it");
  });

  test("unblock --fleet lifts the block on every member", async () => {
    const sweeper = lab.scanner(7);
    const r = await lab.exec(members[3]!, [
      "node",
      MAIN_JS,
      "-c",
      files[3]!.conf,
      "unblock",
      "--fleet",
      sweeper.v4,
    ]);
    assert.ok(r.ok, r.stderr);
    await lab.waitFor(
      async () => {
        for (const m of members) if ((await blockedSet(lab, m, 4)).includes(sweeper.v4)) return false;
        return true;
      },
      { timeoutMs: 10_000, what: "lifted on every member" },
    );
  });
});
