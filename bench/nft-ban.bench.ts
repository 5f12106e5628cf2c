/**
 * Time from `ban()` to the element being in the kernel set, for the nftables responder, against
 * a naive `execFile("nft", ["add", "element", ...])` per ban (what the C daemon's system() does).
 *
 * Root only. Everything runs inside a throwaway network namespace: the parent creates it, runs
 * this file again inside it (`--child`), and deletes it whatever happens.
 *
 *   node dist/bench/nft-ban.bench.js [N]      (default N = 1000)
 */

import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NftablesResponder } from "../src/respond/nftables.js";
import type { BlockTarget } from "../src/respond/responder.js";

const CHILD_FLAG = "--child";
const CHILD_TIMEOUT_MS = 300_000;

function target(address: string): BlockTarget {
  return { address, family: address.includes(":") ? 6 : 4, port: 1, mode: "tcp" };
}

/** N distinct documentation addresses: 198.51.100.0/24, then 203.0.113.0/24, then IPv6. */
function addresses(n: number, v6Prefix: string, v4Prefixes: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of v4Prefixes) for (let i = 0; i < 256 && out.length < n / 2; i++) out.push(`${p}.${i}`);
  for (let i = 1; out.length < n; i++) out.push(`${v6Prefix}${i.toString(16)}`);
  return out;
}

function stats(ms: readonly number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3);
  const mean = (s.reduce((a, b) => a + b, 0) / s.length).toFixed(3);
  return `median ${at(0.5)} ms  p90 ${at(0.9)} ms  p99 ${at(0.99)} ms  mean ${mean} ms  (n=${s.length})`;
}

function naiveBan(address: string): Promise<void> {
  const set = address.includes(":") ? "blocked6" : "blocked4";
  return new Promise((resolve, reject) => {
    execFile(
      "nft",
      ["add", "element", "inet", "portsentry", set, `{ ${address} }`],
      { timeout: 10_000 },
      (e) => (e ? reject(e) : resolve()),
    );
  });
}

async function child(n: number): Promise<void> {
  const responder = new NftablesResponder();
  const started = await responder.start();
  if (!started.ok) throw new Error(started.error);
  // Warm-up (JIT, nft cache), not counted.
  for (let i = 1; i <= 50; i++) await responder.ban(target(`2001:db8:ffff::${i.toString(16)}`), 0);

  const sequential = addresses(n, "2001:db8:100::", ["198.51.100", "203.0.113"]);
  const seqMs: number[] = [];
  for (const a of sequential) {
    const t0 = performance.now();
    const r = await responder.ban(target(a), 3600);
    seqMs.push(performance.now() - t0);
    if (!r.ok) throw new Error(r.error);
  }

  const burst = addresses(n, "2001:db8:200::", []);
  const burstMs: number[] = [];
  const tBurst = performance.now();
  await Promise.all(
    burst.map(async (a) => {
      const t0 = performance.now();
      const r = await responder.ban(target(a), 3600);
      burstMs.push(performance.now() - t0);
      if (!r.ok) throw new Error(r.error);
    }),
  );
  const burstTotalMs = performance.now() - tBurst;

  const listed = await responder.listBlocked();
  if (!listed.ok) throw new Error(listed.error);
  const inSet = new Set(listed.entries.map((e) => e.address));
  const missing = [...sequential, ...burst].filter((a) => !inSet.has(a));
  await responder.flush();
  await responder.start();

  const naive = addresses(n, "2001:db8:300::", ["192.0.2", "198.51.100"]);
  const naiveMs: number[] = [];
  for (const a of naive) {
    const t0 = performance.now();
    await naiveBan(a);
    naiveMs.push(performance.now() - t0);
  }
  const listedNaive = await responder.listBlocked();
  const naiveIn = listedNaive.ok ? listedNaive.entries.length : -1;
  await responder.flush();
  await responder.stop();

  console.log(`nftables responder, ${n} sequential bans (ban() → resolved; mode ${responder.mode}):`);
  console.log(`  ${stats(seqMs)}`);
  console.log(`nftables responder, ${n} bans issued at once (group commit, batches of ≤256):`);
  console.log(`  ${stats(burstMs)}  total ${burstTotalMs.toFixed(1)} ms`);
  console.log(`naive execFile("nft", ["add", "element", ...]) per ban, ${n} sequential:`);
  console.log(`  ${stats(naiveMs)}`);
  console.log(`verified in kernel sets: responder ${2 * n - missing.length}/${2 * n}, naive ${naiveIn}/${n}`);
  if (missing.length > 0 || naiveIn !== n) {
    console.error(`missing: ${missing.slice(0, 5).join(" ")}`);
    process.exitCode = 1;
  }
}

function parent(n: number): void {
  if (process.getuid?.() !== 0) {
    console.error("nft-ban bench: needs root (network namespace, nft); skipped");
    return;
  }
  const ns = `psfw-bench-${process.pid}`;
  const add = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  try {
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, self, CHILD_FLAG, String(n)], {
      stdio: "inherit",
      timeout: CHILD_TIMEOUT_MS,
      killSignal: "SIGKILL",
    });
    if (r.status !== 0) process.exitCode = 1;
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
}

const childIndex = process.argv.indexOf(CHILD_FLAG);
if (childIndex >= 0) {
  await child(Number(process.argv[childIndex + 1] ?? 1000));
} else {
  const n = Number(process.argv[2] ?? 1000);
  if (!Number.isInteger(n) || n < 2 || n > 100_000) throw new Error("N must be an integer in 2..100000");
  parent(n);
}
