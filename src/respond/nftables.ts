/**
 * KILL_FIREWALL="nftables": the daemon's own `inet` table with two address sets and one drop
 * chain; nothing else of the host's ruleset is touched.
 *
 *   table inet portsentry {
 *     set blocked4 { type ipv4_addr; flags timeout; size 65536; }
 *     set blocked6 { type ipv6_addr; flags timeout; size 65536; }
 *     chain prerouting {
 *       type filter hook prerouting priority raw (-300); policy accept;
 *       ip saddr @blocked4 counter drop
 *       ip6 saddr @blocked6 counter drop
 *     }
 *     set probation4 { type ipv4_addr; flags dynamic, timeout; size 262144; }   PROBATION_TIMEOUT
 *     set probation6 { type ipv6_addr; flags dynamic, timeout; size 262144; }
 *     chain probation {
 *       type filter hook prerouting priority -140; policy accept;
 *       ip saddr @probation4 counter drop
 *       ip6 saddr @probation6 counter drop
 *     }
 *   }
 *
 * Probation (a source's first, unverified probe) is dropped at -140, after the kernel trap's
 * chain (-150), so that the trap still sees and reports a source's next probe: the repeat that
 * earns the long ban. `dynamic` because the trap's rules add to these sets.
 *
 * Why prerouting at -300 rather than input at -10: a drop in any base chain is final whatever
 * the host's own chains accept, so both stop the attacker; at raw priority the packet dies
 * before conntrack (a blocked flood creates no conntrack entries) and before routing, so it
 * also covers what the host forwards for local services: containers' published ports are DNATed
 * in prerouting and never pass the input hook. The capture sensors see packets before
 * netfilter either way.
 *
 * Speed: bans go through one long-lived `nft -i` (see nft-session.ts), no process per block;
 * bans queued while a transaction is in flight go out together as the next one (group
 * commit, at most `maxBatch` addresses). If the helper cannot be used, each transaction is one
 * `nft -f -` run.
 */

import { canonicalIp, type IpFamily, parseIp } from "../decode/address.js";
import { NftSession } from "./nft-session.js";
import type { BlockTarget, Responder, ResponderResult } from "./responder.js";
import { describeFailure, run, succeeded } from "./run.js";
import { commandSafeAddress } from "./target.js";

export const NFT_SET4 = "blocked4";
export const NFT_SET6 = "blocked6";
export const NFT_CHAIN = "prerouting";
export const NFT_PRIORITY = -300;
export const PROBATION_SET4 = "probation4";
export const PROBATION_SET6 = "probation6";
export const PROBATION_CHAIN = "probation";
/** After the kernel trap (-150, after conntrack), before DNAT (-100). */
export const PROBATION_PRIORITY = -140;
/**
 * Elements of each probation set: a forged flood of new sources fills it at most (the kernel
 * refuses more: the probe is then dropped unbanned, see the trap). ~40 MiB of kernel memory
 * when full, nothing when empty.
 */
export const PROBATION_SET_SIZE = 262_144;
/**
 * Longest timeout given to the kernel (10 years); a longer ban is stored without a timeout and
 * lifted by the daemon's own expiry, so that it never ends early.
 */
export const NFT_MAX_TIMEOUT_SEC = 3650 * 86400;

export interface NftablesOptions {
  /** argv prefix that runs nft; default `["nft"]`; tests use `["ip", "netns", "exec", NS, "nft"]`. */
  readonly command?: readonly string[];
  /** Name of the daemon's own table (family inet); default `portsentry`. */
  readonly table?: string;
  /** Most addresses in one transaction; default 256. */
  readonly maxBatch?: number;
  /** `size` of each set: the kernel refuses elements beyond it; default 65536. */
  readonly maxSetElements?: number;
  /** Per transaction; default 5000 ms. */
  readonly commandTimeoutMs?: number;
  /** false: no `nft -i` helper, one `nft -f -` per transaction. Default true. */
  readonly interactive?: boolean;
}

export interface BlockedEntry {
  readonly address: string;
  readonly family: IpFamily;
  /** Seconds until the kernel drops the element; null when it never expires. */
  readonly expiresSec: number | null;
}

export type ListBlockedResult =
  | { readonly ok: true; readonly entries: readonly BlockedEntry[] }
  | { readonly ok: false; readonly error: string };

/** nft identifiers we accept for the table name (a strict subset of nft's own syntax). */
export function isValidNftTableName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(name);
}

/** The one-line, atomic, idempotent transaction that creates (or repairs) the table. */
export function nftSetupLine(table: string, maxSetElements: number): string {
  const t = `inet ${table}`;
  return [
    `add table ${t}`,
    `add set ${t} ${NFT_SET4} { type ipv4_addr; flags timeout; size ${maxSetElements}; }`,
    `add set ${t} ${NFT_SET6} { type ipv6_addr; flags timeout; size ${maxSetElements}; }`,
    `add chain ${t} ${NFT_CHAIN} { type filter hook prerouting priority ${NFT_PRIORITY}; policy accept; }`,
    // flush + refill: a restart never duplicates the rules.
    `flush chain ${t} ${NFT_CHAIN}`,
    `add rule ${t} ${NFT_CHAIN} ip saddr @${NFT_SET4} counter drop`,
    `add rule ${t} ${NFT_CHAIN} ip6 saddr @${NFT_SET6} counter drop`,
    `add set ${t} ${PROBATION_SET4} { type ipv4_addr; flags dynamic, timeout; size ${PROBATION_SET_SIZE}; }`,
    `add set ${t} ${PROBATION_SET6} { type ipv6_addr; flags dynamic, timeout; size ${PROBATION_SET_SIZE}; }`,
    `add chain ${t} ${PROBATION_CHAIN} { type filter hook prerouting priority ${PROBATION_PRIORITY}; policy accept; }`,
    `flush chain ${t} ${PROBATION_CHAIN}`,
    `add rule ${t} ${PROBATION_CHAIN} ip saddr @${PROBATION_SET4} counter drop`,
    `add rule ${t} ${PROBATION_CHAIN} ip6 saddr @${PROBATION_SET6} counter drop`,
  ].join("; ");
}

/** Seconds → nft time text (`1d2h3m4s`); small components keep nft's parser in range. */
export function nftDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const text = `${d ? `${d}d` : ""}${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
  return text === "" ? "0s" : text;
}

interface Op {
  /** `unban` lifts a long ban and a probation alike. */
  readonly kind: "ban" | "unban" | "probation";
  readonly address: string;
  readonly family: IpFamily;
  readonly timeoutSec: number;
  readonly resolve: (r: ResponderResult) => void;
}

type ExecResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: string; readonly missing: boolean };

const STOP_GRACE_MS = 2000;

export class NftablesResponder implements Responder {
  readonly name = "nftables";
  readonly #command: readonly string[];
  readonly #table: string;
  readonly #maxBatch: number;
  readonly #maxSetElements: number;
  readonly #commandTimeoutMs: number;
  #interactive: boolean;
  #session: NftSession | undefined;
  #queue: Op[] = [];
  #pumpScheduled = false;
  #pumping = false;
  #drainWaiters: (() => void)[] = [];
  #serialTail: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: NftablesOptions = {}) {
    this.#command = options.command ?? ["nft"];
    this.#table = options.table ?? "portsentry";
    this.#maxBatch = options.maxBatch ?? 256;
    this.#maxSetElements = options.maxSetElements ?? 65536;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    this.#interactive = options.interactive ?? true;
    // Invalid options are a bug in the caller (config validates them), hence a throw.
    if (this.#command.length === 0) throw new RangeError("nftables: empty command");
    if (!isValidNftTableName(this.#table)) throw new RangeError(`nftables: bad table name ${this.#table}`);
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1)
      throw new RangeError("nftables: bad maxBatch");
    if (!Number.isInteger(this.#maxSetElements) || this.#maxSetElements < 1)
      throw new RangeError("nftables: bad maxSetElements");
  }

  /** How commands reach nft now: the `nft -i` helper or one `nft -f -` per transaction. */
  get mode(): "interactive" | "per-batch" {
    return this.#interactive ? "interactive" : "per-batch";
  }

  /** Process id of the `nft -i` helper, when one runs (diagnostics and tests). */
  get helperPid(): number | undefined {
    return this.#session?.pid;
  }

  async start(): Promise<ResponderResult> {
    if (this.#stopped) return { ok: false, error: "nftables: responder stopped" };
    // One `nft -f` for the table (~20 ms); the `nft -i` helper for the bans starts meanwhile
    // (it takes ~150 ms to be ready, which start-up need not wait for).
    if (this.#interactive) this.#prestartSession();
    const r = await this.#serial(() => this.#execOnce(nftSetupLine(this.#table, this.#maxSetElements)));
    return r.ok
      ? { ok: true }
      : { ok: false, error: `nftables: cannot create table ${this.#table}: ${r.error}` };
  }

  ban(target: BlockTarget, timeoutSec: number): Promise<ResponderResult> {
    if (!Number.isInteger(timeoutSec) || timeoutSec < 0) {
      return Promise.resolve({ ok: false, error: `nftables: bad timeout ${timeoutSec} s` });
    }
    return this.#enqueue("ban", target, timeoutSec > NFT_MAX_TIMEOUT_SEC ? 0 : timeoutSec);
  }

  /** PROBATION_TIMEOUT: drops the host for `timeoutSec` in the probation sets; no long ban. */
  probation(target: BlockTarget, timeoutSec: number): Promise<ResponderResult> {
    if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > NFT_MAX_TIMEOUT_SEC) {
      return Promise.resolve({ ok: false, error: `nftables: bad probation ${timeoutSec} s` });
    }
    return this.#enqueue("probation", target, timeoutSec);
  }

  unban(target: BlockTarget): Promise<ResponderResult> {
    return this.#enqueue("unban", target, 0);
  }

  async flush(): Promise<ResponderResult> {
    if (this.#stopped) return { ok: false, error: "nftables: responder stopped" };
    await this.#drain();
    // add + delete: deleting a table that is already gone is not an error.
    const t = `inet ${this.#table}`;
    const r = await this.#serial(() => this.#exec(`add table ${t}; delete table ${t}`));
    return r.ok
      ? { ok: true }
      : { ok: false, error: `nftables: cannot delete table ${this.#table}: ${r.error}` };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#drain();
    await this.#serial(async () => {
      await this.#session?.close(STOP_GRACE_MS);
      this.#session = undefined;
    });
  }

  /** What the kernel holds now (for reconciling with the daemon's state after a restart). */
  async listBlocked(): Promise<ListBlockedResult> {
    // Both sets at once: two nft processes in parallel (start-up waits for this).
    const lists = await Promise.all(
      (
        [
          [NFT_SET4, 4],
          [NFT_SET6, 6],
        ] as const
      ).map(([set, family]) => this.#listSet(set, family)),
    );
    const entries: BlockedEntry[] = [];
    for (const l of lists) {
      if (!l.ok) return l;
      entries.push(...l.entries);
    }
    return { ok: true, entries };
  }

  async #listSet(set: string, family: IpFamily): Promise<ListBlockedResult> {
    const argv = [...this.#command, "-j", "list", "set", "inet", this.#table, set];
    const r = await run(argv, { timeoutMs: this.#commandTimeoutMs * 4 });
    if (!succeeded(r)) {
      // No table: nothing blocked.
      if (r.code !== null && isMissingObject(r.stderr)) return { ok: true, entries: [] };
      return { ok: false, error: `nftables: ${describeFailure(argv, r)}` };
    }
    const parsed = parseSetElements(r.stdout, family);
    return parsed.ok ? parsed : { ok: false, error: `nftables: ${parsed.error}` };
  }

  #enqueue(kind: Op["kind"], target: BlockTarget, timeoutSec: number): Promise<ResponderResult> {
    if (this.#stopped) return Promise.resolve({ ok: false, error: "nftables: responder stopped" });
    // Defence in depth: only a re-parsed, re-formatted address reaches a command line.
    const address = commandSafeAddress(target);
    if (address === undefined)
      return Promise.resolve({ ok: false, error: "nftables: target is not a valid address" });
    return new Promise((resolve) => {
      this.#queue.push({ kind, address, family: target.family, timeoutSec, resolve });
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        // Everything queued in this tick goes out in one transaction.
        queueMicrotask(() => {
          this.#pumpScheduled = false;
          void this.#pump();
        });
      }
    });
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        const r = await this.#serial(() => this.#runBatch(batch));
        const result: ResponderResult = r.ok ? { ok: true } : { ok: false, error: `nftables: ${r.error}` };
        for (const op of batch) op.resolve(result);
      }
    } finally {
      this.#pumping = false;
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }

  async #runBatch(batch: readonly Op[]): Promise<ExecResult> {
    const line = batchLine(this.#table, batch);
    const r = await this.#exec(line);
    if (r.ok || !r.missing) return r;
    // Table or set gone (e.g. `nft flush ruleset`): an unban has nothing to do; a ban repairs.
    if (batch.every((op) => op.kind === "unban")) return { ok: true };
    const setup = await this.#exec(nftSetupLine(this.#table, this.#maxSetElements));
    if (!setup.ok) return setup;
    return this.#exec(line);
  }

  /** Starts the `nft -i` helper now, without waiting for it (an empty line waits for it only). */
  #prestartSession(): void {
    void this.#sessionOf().exec("");
  }

  #sessionOf(): NftSession {
    if (this.#session === undefined) {
      this.#session = new NftSession({
        command: this.#command,
        commandTimeoutMs: this.#commandTimeoutMs,
        restartBackoffMinMs: 100,
        restartBackoffMaxMs: 5000,
      });
    }
    return this.#session;
  }

  async #exec(line: string): Promise<ExecResult> {
    if (this.#interactive) {
      const r = await this.#sessionOf().exec(line);
      if (r.kind === "ok") return { ok: true };
      if (r.kind === "nft-error") return { ok: false, error: r.error, missing: isMissingObject(r.error) };
      // Helper died or hung; its restart is under way. Every line we send is idempotent, so
      // the transaction is retried once in a process of its own.
      const again = await this.#execOnce(line);
      return again.ok
        ? again
        : { ok: false, error: `${r.error}; retry: ${again.error}`, missing: again.missing };
    }
    return this.#execOnce(line);
  }

  async #execOnce(line: string): Promise<ExecResult> {
    const argv = [...this.#command, "-f", "-"];
    const r = await run(argv, { timeoutMs: this.#commandTimeoutMs, input: `${line}\n` });
    if (succeeded(r)) return { ok: true };
    return {
      ok: false,
      error: describeFailure(argv, r),
      missing: r.code !== null && isMissingObject(r.stderr),
    };
  }

  /** Serialises transactions, so that order of calls is order in the kernel. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#serialTail.then(fn, fn);
    this.#serialTail = next.catch(() => {});
    return next;
  }

  #drain(): Promise<void> {
    if (this.#queue.length === 0 && !this.#pumping && !this.#pumpScheduled) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      if (!this.#pumping && !this.#pumpScheduled) void this.#pump();
    });
  }
}

function isMissingObject(stderr: string): boolean {
  return /No such file or directory/.test(stderr);
}

/**
 * One transaction for a batch, in call order; consecutive operations of one kind and family
 * share a command. A ban is add + delete + add, so that it also replaces the timeout of an
 * element that exists (kernels differ on whether a plain add does); an unban is add + delete,
 * so that lifting an absent block is not an error.
 */
export function batchLine(
  table: string,
  batch: readonly Pick<Op, "kind" | "address" | "family" | "timeoutSec">[],
) {
  const commands: string[] = [];
  let i = 0;
  while (i < batch.length) {
    const first = batch[i]!;
    // Last call wins inside a group; a Map keeps first-seen order.
    const group = new Map<string, number>();
    while (i < batch.length && batch[i]!.kind === first.kind && batch[i]!.family === first.family) {
      group.set(batch[i]!.address, batch[i]!.timeoutSec);
      i++;
    }
    const blocked = `inet ${table} ${first.family === 4 ? NFT_SET4 : NFT_SET6}`;
    const probation = `inet ${table} ${first.family === 4 ? PROBATION_SET4 : PROBATION_SET6}`;
    const target = first.kind === "probation" ? probation : blocked;
    const bare = [...group.keys()].join(", ");
    commands.push(`add element ${target} { ${bare} }`, `delete element ${target} { ${bare} }`);
    // A lift ends a probation too (`unblock`, a protected source the trap put on it).
    if (first.kind === "unban")
      commands.push(`add element ${probation} { ${bare} }`, `delete element ${probation} { ${bare} }`);
    if (first.kind !== "unban") {
      const timed = [...group]
        .map(([a, sec]) => (sec > 0 ? `${a} timeout ${nftDuration(sec)}` : a))
        .join(", ");
      commands.push(`add element ${target} { ${timed} }`);
    }
  }
  return commands.join("; ");
}

/** Reads `nft -j list set` output; elements are plain strings or `{elem: {val, expires}}`. */
function parseSetElements(
  json: string,
  family: IpFamily,
): { ok: true; entries: BlockedEntry[] } | { ok: false; error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return { ok: false, error: "nft -j output is not JSON" };
  }
  const items = field(doc, "nftables");
  if (!Array.isArray(items)) return { ok: false, error: "nft -j output has no nftables array" };
  const entries: BlockedEntry[] = [];
  for (const item of items) {
    const elems = field(field(item, "set"), "elem");
    if (!Array.isArray(elems)) continue;
    for (const e of elems) {
      const inner = field(e, "elem");
      const val = typeof e === "string" ? e : field(inner, "val");
      const expires = field(inner, "expires");
      const address = typeof val === "string" ? canonicalIp(val) : undefined;
      if (address === undefined || parseIp(address)?.family !== family) continue;
      entries.push({ address, family, expiresSec: typeof expires === "number" ? expires : null });
    }
  }
  return { ok: true, entries };
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
