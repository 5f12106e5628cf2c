/**
 * KILL_FIREWALL="iptables": a chain of our own (`PORTSENTRY`) in `filter`, jumped to from INPUT,
 * one `-s ADDR -j DROP` rule per block; ip6tables for IPv6. iptables has no timeouts: the
 * daemon's expiry calls unban().
 *
 * One `execFile` per call (two per ban: `-C` then `-A`), about 2-4 ms each: fine for a fallback
 * blocker, and the nftables blocker is the fast one. Calls are serialised, so check-then-add
 * never races with itself.
 */

import type { IpFamily } from "../decode/address.js";
import type { BlockTarget, Responder, ResponderResult } from "./responder.js";
import { commandSafeAddress } from "./target.js";
import {
  deleteRule,
  ensureChain,
  ensureRule,
  isValidChainName,
  listRules,
  removeChain,
  type XtablesTool,
} from "./xtables.js";

export interface IptablesOptions {
  /** argv prefixes; defaults `["iptables"]` and `["ip6tables"]`. */
  readonly iptables?: readonly string[];
  readonly ip6tables?: readonly string[];
  /** Our chain in `filter`; default `PORTSENTRY`. */
  readonly chain?: string;
  /** Per process; default 10000 ms. */
  readonly commandTimeoutMs?: number;
}

export interface IptablesBlockedEntry {
  readonly address: string;
  readonly family: IpFamily;
}

export class IptablesResponder implements Responder {
  readonly name = "iptables";
  readonly #tools: Readonly<Record<IpFamily, XtablesTool>>;
  readonly #chain: string;
  #serialTail: Promise<unknown> = Promise.resolve();

  constructor(options: IptablesOptions = {}) {
    const timeoutMs = options.commandTimeoutMs ?? 10_000;
    this.#tools = {
      4: { argv: options.iptables ?? ["iptables"], timeoutMs },
      6: { argv: options.ip6tables ?? ["ip6tables"], timeoutMs },
    };
    this.#chain = options.chain ?? "PORTSENTRY";
    // Invalid options are a bug in the caller (config validates them), hence a throw.
    if (!isValidChainName(this.#chain)) throw new RangeError(`iptables: bad chain name ${this.#chain}`);
  }

  start(): Promise<ResponderResult> {
    return this.#serial(async () => {
      for (const family of [4, 6] as const) {
        const r = await ensureChain(this.#tools[family], this.#chain);
        if (!r.ok) return { ok: false, error: `iptables: ${r.error}` };
      }
      return { ok: true };
    });
  }

  /** `timeoutSec` is not enforced here: iptables rules do not expire; the daemon unbans. */
  ban(target: BlockTarget, timeoutSec: number): Promise<ResponderResult> {
    const address = commandSafeAddress(target);
    if (address === undefined)
      return Promise.resolve({ ok: false, error: "iptables: target is not a valid address" });
    if (!Number.isInteger(timeoutSec) || timeoutSec < 0) {
      return Promise.resolve({ ok: false, error: `iptables: bad timeout ${timeoutSec} s` });
    }
    const tool = this.#tools[target.family];
    const rule = ["-s", address, "-j", "DROP"];
    return this.#serial(async () => {
      let r = await ensureRule(tool, this.#chain, rule);
      if (!r.ok) {
        // The chain may have been removed behind our back: re-create it once and retry.
        const chain = await ensureChain(tool, this.#chain);
        if (chain.ok) r = await ensureRule(tool, this.#chain, rule);
      }
      return r.ok ? r : { ok: false, error: `iptables: ${r.error}` };
    });
  }

  unban(target: BlockTarget): Promise<ResponderResult> {
    const address = commandSafeAddress(target);
    if (address === undefined)
      return Promise.resolve({ ok: false, error: "iptables: target is not a valid address" });
    return this.#serial(async () => {
      const r = await deleteRule(this.#tools[target.family], this.#chain, ["-s", address, "-j", "DROP"]);
      return r.ok ? r : { ok: false, error: `iptables: ${r.error}` };
    });
  }

  flush(): Promise<ResponderResult> {
    return this.#serial(async () => {
      for (const family of [4, 6] as const) {
        const r = await removeChain(this.#tools[family], this.#chain);
        if (!r.ok) return { ok: false, error: `iptables: ${r.error}` };
      }
      return { ok: true };
    });
  }

  /** Nothing to release: no long-lived process; the rules stay. */
  async stop(): Promise<void> {
    await this.#serial(async () => {});
  }

  /** Addresses with a DROP rule in our chain now (for reconciling after a restart). */
  listBlocked(): Promise<
    | { readonly ok: true; readonly entries: readonly IptablesBlockedEntry[] }
    | { readonly ok: false; readonly error: string }
  > {
    return this.#serial(async () => {
      const entries: IptablesBlockedEntry[] = [];
      for (const family of [4, 6] as const) {
        const listed = await listRules(this.#tools[family], this.#chain);
        if (!listed.ok) return { ok: false, error: `iptables: ${listed.error}` };
        for (const rule of listed.rules) {
          // iptables -S prints our rules as `-A PORTSENTRY -s 198.51.100.1/32 -j DROP`.
          const m = /^-A \S+ -s ([0-9a-fA-F.:]+)\/(32|128) -j DROP$/.exec(rule);
          const address = m ? commandSafeAddress({ address: m[1]!, family }) : undefined;
          if (address !== undefined) entries.push({ address, family });
        }
      }
      return { ok: true, entries };
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#serialTail.then(fn, fn);
    this.#serialTail = next.catch(() => {});
    return next;
  }
}
