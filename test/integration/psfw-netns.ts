/**
 * Test harness for the firewall blockers: a target and a client namespace joined by a veth
 * (192.0.2.1/24 ↔ 192.0.2.2/24, 2001:db8::1/64 ↔ 2001:db8::2/64), a TCP listener in the
 * target, and a bounded connect attempt from the client. Everything is removed by `cleanup()`.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { BlockTarget, Responder } from "../../src/respond/responder.js";
import { describeFailure, type RunResult, run, succeeded } from "../../src/respond/run.js";

export const TARGET4 = "192.0.2.1";
export const CLIENT4 = "192.0.2.2";
export const TARGET6 = "2001:db8::1";
export const CLIENT6 = "2001:db8::2";
export const LISTEN_PORT = 8080;
/** How long a client tries before a blocked connection counts as failed. */
export const CONNECT_TIMEOUT_MS = 1500;

const CMD_TIMEOUT_MS = 10_000;

export const isRoot = process.getuid?.() === 0;
export const ROOT_SKIP = isRoot ? false : "needs root (network namespaces, nft/iptables/ipset)";

/** Runs a command and throws with its stderr when it fails (test set-up only). */
export async function must(argv: readonly string[], input?: string): Promise<RunResult> {
  const r = await run(
    argv,
    input === undefined ? { timeoutMs: CMD_TIMEOUT_MS } : { timeoutMs: CMD_TIMEOUT_MS, input },
  );
  if (!succeeded(r)) throw new Error(describeFailure(argv, r));
  return r;
}

export function inNs(ns: string, argv: readonly string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

export interface NetnsPair {
  readonly target: string;
  readonly client: string;
  /** Starts a TCP server on [::]:LISTEN_PORT (dual stack) in the target namespace. */
  listen(): Promise<void>;
  /** True when the client connects to `host` within `timeoutMs`. */
  canConnect(host: string, timeoutMs: number): Promise<boolean>;
  cleanup(): Promise<void>;
}

/** A single namespace (no traffic), removed by the returned function. */
export async function createNamespace(tag: string): Promise<{ ns: string; cleanup: () => Promise<void> }> {
  const ns = `psfw-${tag}-${randomBytes(3).toString("hex")}`;
  await must(["ip", "netns", "add", ns]);
  return {
    ns,
    cleanup: async () => void (await run(["ip", "netns", "del", ns], { timeoutMs: CMD_TIMEOUT_MS })),
  };
}

export async function createPair(tag: string): Promise<NetnsPair> {
  const id = randomBytes(3).toString("hex");
  const target = `psfw-${tag}-${id}-t`;
  const client = `psfw-${tag}-${id}-c`;
  const vethT = `psfw${id}t`; // interface names: at most 15 characters
  const vethC = `psfw${id}c`;
  const children: ChildProcess[] = [];
  const cleanup = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await run(["ip", "netns", "del", target], { timeoutMs: CMD_TIMEOUT_MS });
    await run(["ip", "netns", "del", client], { timeoutMs: CMD_TIMEOUT_MS });
  };
  try {
    await must(["ip", "netns", "add", target]);
    await must(["ip", "netns", "add", client]);
    await must([
      "ip",
      "link",
      "add",
      vethT,
      "netns",
      target,
      "type",
      "veth",
      "peer",
      "name",
      vethC,
      "netns",
      client,
    ]);
    for (const [ns, dev, a4, a6] of [
      [target, vethT, TARGET4, TARGET6],
      [client, vethC, CLIENT4, CLIENT6],
    ] as const) {
      await must(inNs(ns, ["ip", "link", "set", "lo", "up"]));
      await must(inNs(ns, ["ip", "addr", "add", `${a4}/24`, "dev", dev]));
      await must(inNs(ns, ["ip", "-6", "addr", "add", `${a6}/64`, "dev", dev, "nodad"]));
      await must(inNs(ns, ["ip", "link", "set", dev, "up"]));
    }
  } catch (e) {
    await cleanup();
    throw e;
  }

  const listen = async () => {
    const code = `require("node:net").createServer((c) => c.end()).listen({ port: ${LISTEN_PORT}, host: "::", ipv6Only: false }, () => console.log("ready"));`;
    const child = spawn("ip", ["netns", "exec", target, process.execPath, "-e", code], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("listener did not start in 10 s")), CMD_TIMEOUT_MS);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (d: string) => {
        if (d.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", () => {
        clearTimeout(timer);
        reject(new Error("listener exited"));
      });
    });
  };

  const canConnect = async (host: string, timeoutMs: number) => {
    const code = `const s = require("node:net").connect({ host: "${host}", port: ${LISTEN_PORT} });
      s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(2));
      setTimeout(() => process.exit(3), ${timeoutMs});`;
    const r = await run(inNs(client, [process.execPath, "-e", code]), {
      timeoutMs: timeoutMs + CMD_TIMEOUT_MS,
    });
    return r.code === 0;
  };

  return { target, client, listen, canConnect, cleanup };
}

/** A block target for `address` (TCP port 1, mode tcp). */
export function target(address: string): BlockTarget {
  return { address, family: address.includes(":") ? 6 : 4, port: 1, mode: "tcp" };
}

/** `-S` lines of an iptables/ip6tables chain in `ns`, or [] when it does not exist. */
export async function rules(ns: string, tool: "iptables" | "ip6tables", chain: string): Promise<string[]> {
  const r = await run(inNs(ns, [tool, "-w", "5", "-S", chain]), { timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.split("\n").filter((l) => l.startsWith("-A ")) : [];
}

/** The client's addresses and the target's, per family, for the traffic tests. */
export const FAMILIES = [
  [4, TARGET4, CLIENT4],
  [6, TARGET6, CLIENT6],
] as const;

/** The client connects to `server` before the ban, not after it, and again after the unban. */
export async function assertBanStopsTraffic(
  pair: NetnsPair,
  fw: Pick<Responder, "ban" | "unban">,
  server: string,
  client: string,
  timeoutSec: number,
): Promise<void> {
  assert.equal(await pair.canConnect(server, CONNECT_TIMEOUT_MS), true, "before the ban");
  assert.deepEqual(await fw.ban(target(client), timeoutSec), { ok: true });
  assert.equal(await pair.canConnect(server, CONNECT_TIMEOUT_MS), false, "after the ban");
  assert.deepEqual(await fw.unban(target(client)), { ok: true });
  assert.equal(await pair.canConnect(server, CONNECT_TIMEOUT_MS), true, "after the unban");
}
