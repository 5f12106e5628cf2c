/**
 * What the firewall blockers' tests share, on the one lab harness (test/netns/netns.ts): a target
 * and a client (the lab's first scanner: 192.0.2.1 ↔ 192.0.2.2, 2001:db8::1 ↔ 2001:db8::2), a
 * TCP listener in the target, and a bounded connect attempt from the client. `cleanup()` removes
 * everything.
 */

import assert from "node:assert/strict";
import type { BlockTarget, Responder } from "../../src/respond/responder.js";
import { describeFailure, type RunResult, run, succeeded } from "../../src/respond/run.js";
import { createLab, rootSkip } from "../netns/netns.js";

export const TARGET4 = "192.0.2.1";
export const CLIENT4 = "192.0.2.2";
export const TARGET6 = "2001:db8::1";
export const CLIENT6 = "2001:db8::2";
export const LISTEN_PORT = 8080;
/** How long a client tries before a blocked connection counts as failed. */
export const CONNECT_TIMEOUT_MS = 1500;

const CMD_TIMEOUT_MS = 10_000;

export const ROOT_SKIP = rootSkip();

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

/** A namespace for a blocker's rules (the lab's target; nothing is sent), removed by `cleanup`. */
export async function createNamespace(tag: string): Promise<{ ns: string; cleanup: () => Promise<void> }> {
  const lab = await createLab({ name: tag, hosts: 1 });
  return { ns: lab.target.ns, cleanup: () => lab.destroy() };
}

export async function createPair(tag: string): Promise<NetnsPair> {
  const lab = await createLab({ name: tag, hosts: 1 });
  const client = lab.scanner(1);
  const listen = async () => {
    const code = `require("node:net").createServer((c) => c.end()).listen({ port: ${LISTEN_PORT}, host: "::", ipv6Only: false }, () => console.log("ready"));`;
    const server = lab.spawn(lab.target, [process.execPath, "-e", code]);
    await lab.waitForOutput(server, "ready", CMD_TIMEOUT_MS, "stdout");
  };
  const canConnect = async (host: string, timeoutMs: number) => {
    const code = `const s = require("node:net").connect({ host: "${host}", port: ${LISTEN_PORT} });
      s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(2));
      setTimeout(() => process.exit(3), ${timeoutMs});`;
    const r = await lab.exec(client, [process.execPath, "-e", code], {
      timeoutMs: timeoutMs + CMD_TIMEOUT_MS,
    });
    return r.code === 0;
  };
  return { target: lab.target.ns, client: client.ns, listen, canConnect, cleanup: () => lab.destroy() };
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
