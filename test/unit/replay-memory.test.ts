/**
 * docs/replay.md "Memory": replay's state is bounded by the daemon's table sizes, whatever the
 * capture's size, into a file and into a pipe. A forged sweep of 200 000 SYNs, each from a new
 * source, every one blocked (MAX_BLOCKS_PER_MINUTE="0"), fills every table past its cap. The
 * replay runs as a child with a 128 MB JavaScript heap: state that grew with the capture (it
 * took more than 160 MB before) ends it with "heap out of memory"; and its peak RSS must stay
 * under the documented 256 MB.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT } from "../helpers/daemon.js";
import { SWEEP_LOCAL, writeSweepPcap } from "../helpers/sweep-pcap.js";

const RUNNER = join(REPO_ROOT, "dist/src/cli/main.js");
const FRAMES = 200_000;
const HEAP_MB = 128;
/** The bound docs/replay.md states for this run. */
const MAX_RSS_MB = 256;
/** Prints the child's peak RSS on its stderr as it exits (process.resourceUsage: KiB). */
const REPORT_RSS = `data:text/javascript,process.on("exit",()=>process.stderr.write("maxrss-kib "+process.resourceUsage().maxRSS+"\\n"))`;

let dir: string;
let conf: string;
let capture: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "psrp-mem-"));
  conf = join(dir, "portsentry.conf");
  writeFileSync(join(dir, "portsentry.ignore"), "127.0.0.1\n");
  writeFileSync(
    conf,
    [
      `TCP_PORTS="1,11,143"`,
      `IGNORE_FILE="${dir}/portsentry.ignore"`,
      `HISTORY_FILE="${dir}/history"`,
      `BLOCKED_FILE="${dir}/blocked"`,
      `STATE_DIR="${dir}/state"`,
      `BLOCK_TCP="1"`,
      `KILL_FIREWALL="nftables"`,
      `PROBATION_TIMEOUT="0"`,
      `KILL_HOSTS_DENY="ALL: $TARGET$"`,
      `WRAPPER_HOSTS_DENY="${dir}/hosts.deny"`,
      `BLOCK_TIMEOUT="24h"`,
      `MAX_BLOCKS_PER_MINUTE="0"`,
    ].join("\n"),
  );
  capture = join(dir, "sweep.pcap");
  writeSweepPcap(capture, FRAMES);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  readonly code: number | null;
  readonly maxRssMb: number;
  readonly summary: Record<string, unknown>;
  readonly stderr: string;
}

/** Runs the replay with stdout into `out` (a file's fd) or, without it, into a pipe read here. */
function runReplay(out: number | undefined): Promise<Run> {
  const args = [
    `--max-old-space-size=${HEAP_MB}`,
    "--import",
    REPORT_RSS,
    RUNNER,
    "-c",
    conf,
    "replay",
    capture,
    "--local",
    SWEEP_LOCAL,
    "--json",
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", out ?? "pipe", "pipe"] });
  let stderr = "";
  let last = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  // Into a pipe: read it, keeping only the last line (the summary).
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    last = (last + c).slice(-1_000_000);
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(killer);
      const m = /maxrss-kib (\d+)/.exec(stderr);
      const lines = last.trimEnd().split("\n");
      let summary: Record<string, unknown> = {};
      try {
        summary = JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
      } catch {
        // left empty: the asserts say what is missing
      }
      resolve({ code, maxRssMb: m ? Number(m[1]) / 1024 : Number.NaN, summary, stderr });
    });
  });
}

function check(r: Run, where: string): void {
  assert.equal(r.code, 0, `${where}: ${r.stderr.slice(-2000)}`);
  assert.ok(r.maxRssMb > 0, `${where}: no RSS report: ${r.stderr.slice(-500)}`);
  assert.ok(r.maxRssMb < MAX_RSS_MB, `${where}: peak RSS ${r.maxRssMb.toFixed(0)} MB ≥ ${MAX_RSS_MB} MB`);
}

test(`replay of ${FRAMES} frames from as many sources stays within its bound, into a file and a pipe`, async (t) => {
  const file = join(dir, "out.json");
  const fd = openSync(file, "w");
  let toFile: Run;
  try {
    toFile = await runReplay(fd);
  } finally {
    closeSync(fd);
  }
  check(toFile, "into a file");
  const toPipe = await runReplay(undefined);
  check(toPipe, "into a pipe");
  t.diagnostic(
    `peak RSS: ${toFile.maxRssMb.toFixed(0)} MB into a file, ${toPipe.maxRssMb.toFixed(0)} MB into a pipe`,
  );
  // The tables hit their caps and say so; the summary lists only the first blocked hosts.
  const s = toPipe.summary;
  assert.equal(s.blockedCount, 100_000);
  assert.equal((s.blocked as unknown[]).length, 1000);
  assert.deepEqual(s.evictions, {
    sources: 0,
    blocksRefused: 100_000,
    offences: 0,
    pendingProbes: 183_616,
    fragments: 0,
    ownFlows: 0,
  });
});
