/**
 * Replay throughput: a pcap of N frames (a scan of 1000 sources × ports: each SYN probe with
 * this host's RST, plus as many non-probe frames) written to a temp file, then the whole
 * `portsentry replay --json` path (file window reads, decode, probe rules, pairing, pipeline,
 * dry-run reactor, output to a discarding stream) timed twice: with --local, and with the
 * extra pass that infers the local addresses. No root needed.
 * Run: node dist/bench/replay.bench.js [frames]
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { parseArgs } from "../src/cli/args.js";
import { runReplay } from "../src/cli/replay.js";
import { ACK, ethernetFrame, type PcapRecord, pcapFile, RST, SYN } from "../test/helpers/pcap-builder.js";

const frames = Number(process.argv[2] ?? 1_000_000);
const dir = await mkdtemp(join(tmpdir(), "psrp-bench-"));
try {
  const records: PcapRecord[] = [];
  const T0 = 1_700_000_000;
  for (let i = 0; records.length < frames; i++) {
    const src = `198.51.100.${i % 250}`;
    const src2 = `203.0.113.${Math.floor(i / 250) % 4}`;
    const from = i % 2 === 0 ? src : src2;
    const port = 1 + (i % 1000);
    const sport = 10_000 + (i % 50_000);
    const at = { seconds: T0 + Math.floor(i / 10_000), fraction: (i * 97) % 1_000_000 };
    records.push({
      ...at,
      data: ethernetFrame({ src: from, dst: "192.0.2.1", proto: "tcp", sport, dport: port, flags: SYN }),
    });
    records.push({
      ...at,
      data: ethernetFrame({
        src: "192.0.2.1",
        dst: from,
        proto: "tcp",
        sport: port,
        dport: sport,
        flags: RST | ACK,
      }),
    });
  }
  const pcap = join(dir, "bench.pcap");
  const bytes = pcapFile(records);
  await writeFile(pcap, bytes);
  const conf = join(dir, "portsentry.conf");
  await writeFile(join(dir, "ignore"), "127.0.0.1\n");
  await writeFile(
    conf,
    [
      `IGNORE_FILE="${dir}/ignore"`,
      `HISTORY_FILE="${dir}/history"`,
      `BLOCKED_FILE="${dir}/blocked"`,
      `STATE_DIR="${dir}"`,
      `BLOCK_TCP="1"`,
      `KILL_FIREWALL="nftables"`,
      `MAX_BLOCKS_PER_MINUTE="0"`,
    ].join("\n"),
  );
  let outBytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      outBytes += chunk.length;
      done();
    },
  });
  console.log(`replay bench: ${records.length} frames, ${(bytes.length / 1e6).toFixed(1)} MB pcap`);
  for (const extra of [["--local", "192.0.2.1"], []]) {
    const parsed = parseArgs(["replay", pcap, "-c", conf, "-atcp", "--json", ...extra]);
    if (!parsed.ok || parsed.command.kind !== "replay") throw new Error("bad arguments");
    outBytes = 0;
    const start = performance.now();
    const code = await runReplay(parsed.command, { stdout: sink, stderr: process.stderr });
    const ms = performance.now() - start;
    console.log(
      `  ${extra.length > 0 ? "--local given " : "local inferred"}: exit ${code}, ${ms.toFixed(0)} ms, ` +
        `${((records.length / ms) * 1000).toFixed(0)} frames/s, ${((ms * 1000) / records.length).toFixed(2)} µs/frame, ` +
        `${(outBytes / 1e6).toFixed(1)} MB JSON out`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
