/**
 * A full disk loses no record (issue point 4): STATE_DIR, history, blocked file and hosts.deny
 * on a small tmpfs that fills during a storm of blocks; once the tmpfs is enlarged, every record
 * catches up without a restart, and the history holds no torn line.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { request } from "../../src/control/client.js";
import { socketPathFor } from "../../src/control/protocol.js";
import { type DaemonFiles, startDaemon, writeDaemonFiles } from "../helpers/daemon.js";
import { createLab, type Lab, type LabProcess, rootSkip } from "../netns/netns.js";

const run = promisify(execFile);
/** The 1.2 history line; a torn line (two run together, or a fragment) does not match. */
const HISTORY_LINE =
  /^\d+ - \d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d Host: [^ /]+\/[0-9a-f.:]+ Port: \d+ (TCP|UDP) Blocked$/;
/** Documentation addresses only: 198.51.100.0/24, 203.0.113.0/24 and 2001:db8:f::/64. */
const ADDRESSES = [
  ...Array.from({ length: 150 }, (_, i) => `198.51.100.${i + 1}`),
  ...Array.from({ length: 100 }, (_, i) => `203.0.113.${i + 1}`),
  ...Array.from({ length: 50 }, (_, i) => `2001:db8:f::${(i + 1).toString(16)}`),
];

async function lines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

describe("a full disk under STATE_DIR", { skip: rootSkip() }, () => {
  let lab: Lab;
  let mnt = "";
  let mounted = false;
  let files: DaemonFiles | undefined;
  let daemon: LabProcess | undefined;

  before(async () => {
    lab = await createLab({ name: "diskfull", hosts: 1 });
    mnt = await mkdtemp(join(tmpdir(), "ps-diskfull-"));
    await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "portsentry-test", mnt]);
    mounted = true;
  });
  after(async () => {
    await daemon?.stop(2000);
    await lab?.destroy();
    if (mounted) await run("umount", [mnt]).catch(() => run("umount", ["-l", mnt]));
    if (mnt !== "") await rm(mnt, { recursive: true, force: true });
    await files?.remove();
  });

  test("records skipped while full catch up once space is back, without a restart, none torn", async () => {
    files = await writeDaemonFiles({
      TCP_PORTS: "143",
      BLOCK_TCP: "1",
      KILL_FIREWALL: "nftables",
      KILL_HOSTS_DENY: "ALL: $TARGET$",
      MAX_BLOCKS_PER_MINUTE: "0",
      BLOCK_TIMEOUT: "0",
      STATE_DIR: join(mnt, "state"),
      HISTORY_FILE: join(mnt, "portsentry.history"),
      BLOCKED_FILE: join(mnt, "portsentry.blocked"),
      WRAPPER_HOSTS_DENY: join(mnt, "hosts.deny"),
    });
    const history = join(mnt, "portsentry.history");
    const blocked = join(mnt, "portsentry.blocked.tcp");
    const hostsDeny = join(mnt, "hosts.deny");
    const socket = socketPathFor(join(mnt, "state"));
    daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp"]);
    const d = daemon;
    const output = () => d.tail(3000);

    // Leave the storm a few pages: it fills them within its first blocks, wherever it writes.
    const fs = await statfs(mnt);
    await writeFile(join(mnt, "filler"), Buffer.alloc(Math.max(0, (fs.bavail - 12) * fs.bsize)));

    // The storm: every address blocked through the control socket, eight at a time.
    const queue = [...ADDRESSES];
    const worker = async () => {
      for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
        const r = await request(socket, "block", [a]);
        assert.ok(r.ok, `block ${a}: ${JSON.stringify(r)}\n${output()}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const status = async () => {
      const r = await request(socket, "status", []);
      assert.ok(r.ok, `status: ${JSON.stringify(r)}\n${output()}`);
      return r.result;
    };
    const full = await status();
    assert.equal(full.blockedHosts, ADDRESSES.length, "every block in force while the disk is full");
    assert.ok((full.counters.diskFull ?? 0) >= 1, `the disk filled: ${JSON.stringify(full.counters)}`);
    assert.ok((full.counters.recordsBehind ?? 0) > 0, "records were left behind");
    assert.match(d.stderr, /disk full/);

    // Space comes back: the same tmpfs, enlarged. No restart, no new block.
    await run("mount", ["-o", "remount,size=16m", mnt]);
    await lab.waitFor(
      async () => {
        const [h, b, w] = await Promise.all([lines(history), lines(blocked), lines(hostsDeny)]);
        return h.length >= ADDRESSES.length && b.length >= ADDRESSES.length && w.length >= ADDRESSES.length;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: "history, blocked file and hosts.deny to catch up" },
    );
    await lab.waitFor(async () => (await status()).counters.recordsBehind === 0, {
      timeoutMs: 10_000,
      what: "no record left behind",
    });

    const h = await lines(history);
    const torn = h.filter((l) => !HISTORY_LINE.test(l));
    assert.deepEqual(torn, [], "no torn history line");
    const hostOf = (l: string) => /\/([0-9a-f.:]+) Port:/.exec(l)?.[1];
    assert.deepEqual(h.map(hostOf).sort(), [...ADDRESSES].sort(), "each block once in the history");
    assert.deepEqual((await lines(blocked)).map(hostOf).sort(), [...ADDRESSES].sort(), "blocked file");
    const denied = ADDRESSES.map((a) => (a.includes(":") ? `ALL: [${a}]` : `ALL: ${a}`)).sort();
    assert.deepEqual((await lines(hostsDeny)).sort(), denied, "hosts.deny");
    assert.match(d.stderr, /space is back: \d+ records caught up/);
    assert.equal(
      d.stderr.match(/disk full/g)?.length,
      (await status()).counters.diskFull,
      "once per episode",
    );

    // The state database, the source of truth, holds every block, each recorded.
    const db = new Database(join(mnt, "state", "state.db"), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT address, recorded FROM blocks").all() as {
        address: string;
        recorded: number;
      }[];
      assert.deepEqual(rows.map((r) => r.address).sort(), [...ADDRESSES].sort());
      assert.ok(
        rows.every((r) => r.recorded === 1),
        "every history line marked written",
      );
    } finally {
      db.close();
    }
    for (const f of ["state.db", "state.db-wal", "state.db-shm"]) {
      assert.equal((await stat(join(mnt, "state", f))).mode & 0o777, 0o600, f);
    }

    // A restart finds nothing left to write: no second history line, every block restored.
    await d.stop(5000);
    daemon = await startDaemon(lab, lab.target, files.conf, ["-tcp"]);
    assert.match(daemon.stderr, new RegExp(`${ADDRESSES.length} blocks restored`));
    assert.equal((await lines(history)).length, ADDRESSES.length, "no history line written twice");
  });
});
