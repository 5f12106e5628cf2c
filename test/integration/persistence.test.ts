/**
 * State that survives (spec §6, §7): a block outlives `kill -9` and a restart without
 * duplicates; a ban with a short BLOCK_TIMEOUT is lifted on time everywhere; killing the
 * daemon at random moments during a storm of blocks never leaves state, firewall and files
 * disagreeing after the restart.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import {
  type DaemonFiles,
  MAIN_JS,
  startDaemon,
  startService,
  TCP_CLIENT_JS,
  writeDaemonFiles,
} from "../helpers/daemon.js";
import { createLab, type Lab, type LabProcess, rootSkip, type ScannerHost } from "../netns/netns.js";

const TRAP = 143;
const SERVICE_PORT = 8080;

async function readLines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

function storedBlocks(files: DaemonFiles): string[] {
  const db = new Database(join(files.dir, "state", "state.db"), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT address FROM blocks").all() as { address: string }[])
      .map((r) => r.address)
      .sort();
  } finally {
    db.close();
  }
}

describe("persistent blocks, expiry, crash safety", { skip: rootSkip() }, () => {
  let lab: Lab;
  let scanner: ScannerHost;
  let other: ScannerHost;
  const cleanup: (() => Promise<void>)[] = [];

  const canReachService = async (host: ScannerHost) =>
    (
      await lab.exec(host, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, String(SERVICE_PORT), "1000"])
    ).stdout.includes("hello");
  const trip = (host: ScannerHost) =>
    lab.exec(host, ["node", TCP_CLIENT_JS, "tcp", lab.target.v4, String(TRAP), "1000"]);
  const nftElements = async (): Promise<string[]> => {
    const r = await lab.exec(lab.target, ["nft", "-j", "list", "set", "inet", "portsentry", "blocked4"]);
    const parsed = JSON.parse(r.stdout || "{}") as { nftables?: { set?: { elem?: unknown[] } }[] };
    const elems = parsed.nftables?.find((o) => o.set)?.set?.elem ?? [];
    return elems
      .map((e) => (typeof e === "string" ? e : (e as { elem?: { val?: string } }).elem?.val))
      .filter((x): x is string => typeof x === "string")
      .sort();
  };
  const configFor = (extra: Record<string, string>) =>
    writeDaemonFiles({
      TCP_PORTS: String(TRAP),
      BLOCK_TCP: "1",
      KILL_FIREWALL: "nftables",
      KILL_HOSTS_DENY: "ALL: $TARGET$",
      MAX_BLOCKS_PER_MINUTE: "0",
      ...extra,
    });
  /** Daemons of the running test: stopped after it, also when it failed, so none outlives it. */
  const daemons: LabProcess[] = [];
  const run = async (files: DaemonFiles): Promise<LabProcess> => {
    const daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp"]);
    daemons.push(daemon);
    return daemon;
  };
  /** What the daemons of this test printed, for a failure's message. */
  const outputs = () => daemons.map((d) => d.tail(1600)).join("\n");
  const flushTable = () => lab.exec(lab.target, ["nft", "delete", "table", "inet", "portsentry"]);

  before(async () => {
    lab = await createLab({ name: "persist", hosts: 2 });
    [scanner, other] = lab.scanners as [ScannerHost, ScannerHost];
    await startService(lab, lab.target, SERVICE_PORT);
  });
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
    await flushTable();
  });
  after(async () => {
    await lab?.destroy();
    for (const c of cleanup) await c();
  });

  test("a block survives kill -9 and a restart: one element, one hosts.deny line; unblock lifts it everywhere", async () => {
    const files = await configFor({ BLOCK_TIMEOUT: "0" });
    cleanup.push(files.remove);
    let daemon = await run(files);
    await trip(scanner);
    await lab.waitForFileContains(files.history, `/${scanner.v4} Port: ${TRAP} TCP Blocked`, 5000);
    daemon.kill("SIGKILL");
    await daemon.exited;
    daemon = await run(files);
    assert.match(daemon.stderr, /1 blocks restored/, outputs());
    assert.deepEqual(await nftElements(), [scanner.v4], outputs());
    assert.deepEqual(await readLines(files.hostsDeny), [`ALL: ${scanner.v4}`], outputs());
    assert.equal((await readLines(`${files.blocked}.tcp`)).length, 1, outputs());
    assert.equal(
      (await readLines(files.history)).length,
      1,
      `no second history line for the same block:\n${(await readLines(files.history)).join("\n")}${outputs()}`,
    );
    assert.equal(await canReachService(scanner), false);
    assert.equal(await canReachService(other), true);

    // The control CLI sees the block and lifts it everywhere.
    const cli = (...args: string[]) => lab.exec(lab.target, ["node", MAIN_JS, "-c", files.conf, ...args]);
    type Reply<T> = { result: T };
    const blocked = (
      JSON.parse((await cli("blocked", "--json")).stdout) as Reply<{ address: string; port: number }[]>
    ).result;
    assert.deepEqual(
      blocked.map((b) => [b.address, b.port]),
      [[scanner.v4, TRAP]],
    );
    const status = (JSON.parse((await cli("status", "--json")).stdout) as Reply<{ blockedHosts: number }>)
      .result;
    assert.equal(status.blockedHosts, 1);
    const unblocked = await cli("unblock", scanner.v4);
    assert.equal(unblocked.code, 0, unblocked.stderr);
    assert.deepEqual(await nftElements(), []);
    assert.deepEqual(await readLines(files.hostsDeny), []);
    assert.deepEqual(await readLines(`${files.blocked}.tcp`), []);
    assert.deepEqual(storedBlocks(files), []);
    assert.equal(await canReachService(scanner), true);
    assert.equal((await readLines(files.history)).length, 1, "history is never rewritten");
  });

  test("a ban with a 2 s BLOCK_TIMEOUT is lifted on time, everywhere", async () => {
    const files = await configFor({ BLOCK_TIMEOUT: "2" });
    cleanup.push(files.remove);
    const daemon = await run(files);
    await trip(scanner);
    await lab.waitForFileContains(files.history, `/${scanner.v4} Port: ${TRAP} TCP Blocked`, 5000);
    const blockedAt = Date.now();
    assert.equal(await canReachService(scanner), false);
    await lab.waitFor(() => daemon.stderr.includes(`${scanner.v4}`) && /expired/i.test(daemon.stderr), {
      timeoutMs: 6000,
      what: "the expiry line",
    });
    const liftedAfterMs = Date.now() - blockedAt;
    assert.ok(
      liftedAfterMs < 2000 + 1000,
      `lifted ${liftedAfterMs} ms after the block: within a second of its time`,
    );
    assert.equal(await canReachService(scanner), true);
    assert.deepEqual(await nftElements(), []);
    assert.deepEqual(await readLines(files.hostsDeny), []);
    assert.deepEqual(await readLines(`${files.blocked}.tcp`), []);
    assert.deepEqual(storedBlocks(files), []);
  });

  test("kill -9 at random moments during a storm of blocks, 20 times: state, firewall and files agree", async (t) => {
    const files = await configFor({ BLOCK_TIMEOUT: "0" });
    cleanup.push(files.remove);
    // 120 extra source addresses on the scanner, in the lab's documentation subnet.
    const sources = Array.from({ length: 120 }, (_, i) => `192.0.2.${100 + i}`);
    for (const a of sources)
      await lab.execOk(scanner, ["ip", "addr", "add", `${a}/32`, "dev", scanner.iface]);
    let offset = 0;
    for (let round = 0; round < 20; round++) {
      const daemon = await run(files);
      // Each round: six new sources trip the trap while the daemon is killed at a random moment.
      const batch = sources.slice(offset, offset + 6);
      offset += batch.length;
      const storm = lab.exec(scanner, [
        "node",
        TCP_CLIENT_JS,
        "storm",
        lab.target.v4,
        String(TRAP),
        "800",
        ...batch,
      ]);
      // Kill somewhere in the storm: after its first hit, within the ~60 ms it lasts.
      await lab.waitForOutput(daemon, "Connect from host", 5000);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 70)));
      daemon.kill("SIGKILL");
      await daemon.exited;
      await storm;
      // Restart and compare once it is armed (reconciliation done).
      const restarted = await run(files);
      const state = storedBlocks(files);
      const inKernel = await nftElements();
      const denied = await readLines(files.hostsDeny);
      const blockedFile = (await readLines(`${files.blocked}.tcp`))
        .map((l) => /\/(\S+) Port:/.exec(l)?.[1])
        .sort();
      assert.deepEqual(inKernel, state, `round ${round}: nft set = state${restarted.tail(1600)}`);
      assert.deepEqual(
        denied.map((l) => l.replace("ALL: ", "")).sort(),
        state,
        `round ${round}: hosts.deny = state`,
      );
      assert.equal(new Set(denied).size, denied.length, `round ${round}: no duplicate hosts.deny line`);
      const historyHosts = (await readLines(files.history)).map((l) => /\/(\S+) Port:/.exec(l)?.[1]);
      assert.equal(
        new Set(historyHosts).size,
        historyHosts.length,
        `round ${round}: one history line per block, crash or not`,
      );
      assert.deepEqual(blockedFile, state, `round ${round}: blocked file = state${restarted.tail(1600)}`);
      restarted.kill("SIGKILL");
      await restarted.exited;
    }
    const blocked = storedBlocks(files).length;
    t.diagnostic(`${blocked} of ${offset} storm sources blocked across 20 kills`);
    assert.ok(blocked > 0, "the storms blocked someone");
  });
});
