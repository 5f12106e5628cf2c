import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { parseArgs } from "../../../src/cli/args.js";
import { isoMicros, runReplay } from "../../../src/cli/replay.js";
import { REPO_ROOT } from "../../helpers/daemon.js";
import { ACK, ethernetFrame, PcapngWriter, pcapFile, RST, SYN } from "../../helpers/pcap-builder.js";

const RUNNER = join(REPO_ROOT, "dist/src/cli/main.js");
const T0 = 1_700_000_000;

let dir: string;
let conf: string;
let capture: string;

async function replay(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const parsed = parseArgs(["replay", ...args]);
  assert.ok(parsed.ok && parsed.command.kind === "replay", parsed.ok ? "" : parsed.error);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: "", err: "" };
  stdout.on("data", (c: Buffer) => {
    chunks.out += c.toString();
  });
  stderr.on("data", (c: Buffer) => {
    chunks.err += c.toString();
  });
  const code = await runReplay(parsed.command, { stdout, stderr });
  return { code, stdout: chunks.out, stderr: chunks.err };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "psrp-cli-"));
  conf = join(dir, "portsentry.conf");
  await writeFile(join(dir, "portsentry.ignore"), "127.0.0.1\n192.0.2.9\n");
  await writeFile(
    conf,
    [
      `TCP_PORTS="1,11,143"`,
      `UDP_PORTS="7"`,
      `IGNORE_FILE="${dir}/portsentry.ignore"`,
      `HISTORY_FILE="${dir}/history"`,
      `BLOCKED_FILE="${dir}/blocked"`,
      `STATE_DIR="${dir}/state"`,
      `BLOCK_TCP="1"`,
      `BLOCK_UDP="1"`,
      `KILL_FIREWALL="nftables"`,
      `PROBATION_TIMEOUT="0"`,
      `KILL_HOSTS_DENY="ALL: $TARGET$"`,
      `WRAPPER_HOSTS_DENY="${dir}/hosts.deny"`,
      `BLOCK_TIMEOUT="24h"`,
    ].join("\n"),
  );
  const frame = (src: string, dst: string, sport: number, dport: number, flags: number) =>
    ethernetFrame({ src, dst, proto: "tcp", sport, dport, flags });
  capture = join(dir, "scan.pcap");
  await writeFile(
    capture,
    pcapFile([
      { seconds: T0, fraction: 1, data: frame("192.0.2.2", "192.0.2.1", 4000, 143, SYN) },
      { seconds: T0, fraction: 9, data: frame("192.0.2.1", "192.0.2.2", 143, 4000, RST | ACK) },
      { seconds: T0, fraction: 500, data: frame("192.0.2.9", "192.0.2.1", 4001, 11, SYN) },
      { seconds: T0 + 1, fraction: 0, data: frame("192.0.2.2", "192.0.2.1", 4002, 1, SYN) },
    ]),
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe("portsentry replay (CLI)", () => {
  test("human output: live lines with the packet's time, would-block lines, a summary", async () => {
    const r = await replay(capture, "-c", conf);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(
      lines[0],
      `${isoMicros(T0 * 1e6 + 1)} attackalert: TCP SYN/Normal scan from host: 192.0.2.2/192.0.2.2 to TCP port: 143`,
    );
    assert.equal(
      lines[1],
      `${isoMicros(T0 * 1e6 + 1)} would block 192.0.2.2 (stcp, port 143) for 1d via hosts.deny "ALL: 192.0.2.2", nftables`,
    );
    assert.match(
      lines[2] ?? "",
      /attackalert: TCP SYN\/Normal scan from host: 192.0.2.2\/192.0.2.2 to TCP port: 1 \[unverified\]$/,
    );
    assert.ok(lines.some((l) => l.includes("is already blocked")));
    assert.ok(!r.stdout.includes("192.0.2.9/"), "ignored by the ignore file");
    assert.ok(
      lines.some((l) => l.startsWith("replay: modes -stcp -sudp; local addresses: 192.0.2.1 (inferred")),
    );
    assert.ok(
      lines.some((l) =>
        /^replay: 3 probes \(1 answered by this host\), 3 hits, 1 ignored, 2 detections \(1 unverified/.test(
          l,
        ),
      ),
    );
    assert.ok(lines.some((l) => l.startsWith("replay: 1 would block, 0 held back by the rate limit")));
    assert.equal(isoMicros(T0 * 1e6 + 1), "2023-11-14T22:13:20.000001Z");
  });

  test("--json: one object per event and a summary; --local and modes are honoured", async () => {
    const r = await replay(capture, "-c", conf, "--json", "-atcp", "--local", "192.0.2.1");
    assert.equal(r.code, 0, r.stderr);
    const objects = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      objects.map((o) => o.type),
      ["detection", "block", "detection", "log", "summary"],
    );
    assert.equal(objects[0]?.ts, "2023-11-14T22:13:20.000001Z");
    assert.equal(objects[0]?.mode, "atcp");
    assert.equal(objects[0]?.classification, "TCP SYN/Normal scan");
    assert.deepEqual(objects[1]?.steps, [
      { method: "hosts.deny", file: join(dir, "hosts.deny"), line: "ALL: 192.0.2.2" },
      { method: "nftables" },
    ]);
    const summary = objects[4]!;
    assert.equal(summary.localFrom, "option");
    assert.deepEqual(summary.modes, ["atcp"]);
    assert.equal(summary.format, "pcap");
    assert.deepEqual(summary.blocked, ["192.0.2.2"]);
  });

  test("pcapng works the same", async () => {
    const ng = join(dir, "scan.pcapng");
    await writeFile(
      ng,
      new PcapngWriter(false)
        .interface(1, { tsresol: 9 })
        .packet(
          0,
          BigInt(T0) * 1_000_000_000n,
          ethernetFrame({ src: "2001:db8::2", dst: "2001:db8::1", proto: "udp", sport: 5, dport: 7 }),
        )
        .bytes(),
    );
    const r = await replay(ng, "-c", conf, "--local", "2001:db8::1");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout.includes(
        "attackalert: UDP scan from host: 2001:db8::2/2001:db8::2 to UDP port: 7 [unverified]",
      ),
    );
  });

  test("exit 1: missing file, not a capture, a directory; exit 2: config errors", async () => {
    const garbage = join(dir, "garbage.pcap");
    await writeFile(garbage, "this is not a capture file at all\n");
    for (const file of [join(dir, "missing.pcap"), garbage, dir]) {
      const r = await replay(file, "-c", conf);
      assert.equal(r.code, 1, `${file}: ${r.stderr}`);
      assert.match(r.stderr, /^portsentry: /);
    }
    const bad = join(dir, "bad.conf");
    await writeFile(bad, `TCP_PORTS="1,70000"\n`);
    const r = await replay(capture, "-c", bad);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.conf:1: TCP_PORTS/);
  });

  test("a capture cut mid-record: what was read is replayed, the cut is reported, exit 0", async () => {
    const cut = join(dir, "cut.pcap");
    const whole = pcapFile([
      {
        seconds: T0,
        fraction: 1,
        data: ethernetFrame({ src: "192.0.2.2", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 143 }),
      },
      {
        seconds: T0,
        fraction: 2,
        data: ethernetFrame({ src: "192.0.2.3", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 143 }),
      },
    ]);
    await writeFile(cut, whole.subarray(0, whole.length - 5));
    const r = await replay(cut, "-c", conf, "--local", "192.0.2.1");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("from host: 192.0.2.2/"));
    assert.match(r.stderr, /reading stopped at byte \d+: truncated/);
  });

  test("a pcapng whose interface block is corrupt: a warning and exit 1, not 0 frames and 0", async () => {
    const ng = join(dir, "bad-idb.pcapng");
    await writeFile(
      ng,
      new PcapngWriter()
        // if_tsresol 10^60: no clock ticks that fast; the block is refused, its packets too.
        .interface(1, { tsresol: 60 })
        .packet(
          0,
          BigInt(T0) * 1_000_000n,
          ethernetFrame({ src: "192.0.2.2", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 143 }),
        )
        .bytes(),
    );
    const r = await replay(ng, "-c", conf, "--local", "192.0.2.1");
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /WARNING: 2 damaged records or blocks skipped \(bad-interface-block 1, unknown-interface 1\)/,
    );
    assert.match(r.stderr, /no frame could be read: the file is damaged/);
    // One good interface beside the bad one: what could be read is replayed, with the warning.
    const mixed = join(dir, "mixed-idb.pcapng");
    await writeFile(
      mixed,
      new PcapngWriter()
        .interface(1, { tsresol: 60 })
        .interface(1)
        .packet(
          1,
          BigInt(T0) * 1_000_000n,
          ethernetFrame({ src: "192.0.2.2", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 143 }),
        )
        .bytes(),
    );
    const m = await replay(mixed, "-c", conf, "--local", "192.0.2.1");
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stderr, /WARNING: 1 damaged records or blocks skipped \(bad-interface-block 1\)/);
    assert.ok(m.stdout.includes("from host: 192.0.2.2/"));
  });

  test("a FIFO is refused at once (no writer must not hang the replay); exit 1", () => {
    const fifo = join(dir, "capture.fifo");
    execFileSync("mkfifo", [fifo]);
    // A child process: an open that blocks would block this test's event loop too.
    const r = spawnSync("node", [RUNNER, "replay", fifo, "-c", conf], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.signal, null, "replay of a FIFO without a writer did not return within 10 s");
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is not a regular file/);
  });

  test("as a process: the runner parses argv like main.ts and exits with runReplay's status", () => {
    const ok = spawnSync("node", [RUNNER, "replay", capture, "-c", conf, "--json"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(ok.stdout.includes(`"type":"summary"`));
    const usage = spawnSync("node", [RUNNER, "replay", capture, "-tcp"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /stealth and advanced modes/);
  });
});
