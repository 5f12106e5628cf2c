/**
 * KILL_FIREWALL="ipset": sets `portsentry4`/`portsentry6` (`hash:ip`, `timeout 0`: per-entry
 * timeouts, 0 = forever) matched by one DROP rule each in our own iptables/ip6tables chain
 * (see xtables.ts). A ban is one `ipset add -exist` (the kernel expires it), so bans cost one
 * `execFile` each (~2 ms) and the rule count stays at two whatever the number of blocks.
 */

import type { IpFamily } from "../decode/address.js";
import type { BlockTarget, Responder, ResponderResult } from "./responder.js";
import { describeFailure, type RunResult, run, succeeded } from "./run.js";
import { commandSafeAddress } from "./target.js";
import { ensureChain, ensureRule, isValidChainName, removeChain, type XtablesTool } from "./xtables.js";

/**
 * ipset's largest timeout (about 24.8 days); a longer ban is stored without a timeout and
 * lifted by the daemon's own expiry, so that it never ends early.
 */
export const IPSET_MAX_TIMEOUT_SEC = 2_147_483;

export interface IpsetOptions {
  /** argv prefixes; defaults `["ipset"]`, `["iptables"]`, `["ip6tables"]`. */
  readonly ipset?: readonly string[];
  readonly iptables?: readonly string[];
  readonly ip6tables?: readonly string[];
  /** Our chain in `filter`; default `PORTSENTRY`. */
  readonly chain?: string;
  /** Set names; defaults `portsentry4`, `portsentry6`. */
  readonly set4?: string;
  readonly set6?: string;
  /** `maxelem` of each set; default 65536. */
  readonly maxElements?: number;
  /** Per process; default 10000 ms. */
  readonly commandTimeoutMs?: number;
}

export interface IpsetBlockedEntry {
  readonly address: string;
  readonly family: IpFamily;
  /** Seconds until the kernel drops the entry; null when it never expires. */
  readonly expiresSec: number | null;
}

export class IpsetResponder implements Responder {
  readonly name = "ipset";
  readonly #ipset: readonly string[];
  readonly #tools: Readonly<Record<IpFamily, XtablesTool>>;
  readonly #sets: Readonly<Record<IpFamily, string>>;
  readonly #chain: string;
  readonly #maxElements: number;
  readonly #timeoutMs: number;
  #serialTail: Promise<unknown> = Promise.resolve();

  constructor(options: IpsetOptions = {}) {
    this.#timeoutMs = options.commandTimeoutMs ?? 10_000;
    this.#ipset = options.ipset ?? ["ipset"];
    this.#tools = {
      4: { argv: options.iptables ?? ["iptables"], timeoutMs: this.#timeoutMs },
      6: { argv: options.ip6tables ?? ["ip6tables"], timeoutMs: this.#timeoutMs },
    };
    this.#sets = { 4: options.set4 ?? "portsentry4", 6: options.set6 ?? "portsentry6" };
    this.#chain = options.chain ?? "PORTSENTRY";
    this.#maxElements = options.maxElements ?? 65536;
    // Invalid options are a bug in the caller (config validates them), hence a throw.
    if (!isValidChainName(this.#chain)) throw new RangeError(`ipset: bad chain name ${this.#chain}`);
    for (const s of Object.values(this.#sets)) {
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,30}$/.test(s)) throw new RangeError(`ipset: bad set name ${s}`);
    }
    if (!Number.isInteger(this.#maxElements) || this.#maxElements < 1)
      throw new RangeError("ipset: bad maxElements");
  }

  start(): Promise<ResponderResult> {
    return this.#serial(() => this.#setup());
  }

  ban(target: BlockTarget, timeoutSec: number): Promise<ResponderResult> {
    const address = commandSafeAddress(target);
    if (address === undefined)
      return Promise.resolve({ ok: false, error: "ipset: target is not a valid address" });
    if (!Number.isInteger(timeoutSec) || timeoutSec < 0) {
      return Promise.resolve({ ok: false, error: `ipset: bad timeout ${timeoutSec} s` });
    }
    const kernelTimeoutSec = timeoutSec > IPSET_MAX_TIMEOUT_SEC ? 0 : timeoutSec;
    // -exist: an existing entry is not an error, and its timeout is replaced.
    const args = ["add", "-exist", this.#sets[target.family], address, "timeout", String(kernelTimeoutSec)];
    return this.#serial(async () => {
      let r = await this.#ipsetRun(args);
      if (!succeeded(r) && /does not exist/.test(r.stderr)) {
        // The set was destroyed behind our back: re-create everything once and retry.
        const setup = await this.#setup();
        if (!setup.ok) return setup;
        r = await this.#ipsetRun(args);
      }
      return succeeded(r)
        ? { ok: true }
        : { ok: false, error: `ipset: ${describeFailure(this.#argv(args), r)}` };
    });
  }

  unban(target: BlockTarget): Promise<ResponderResult> {
    const address = commandSafeAddress(target);
    if (address === undefined)
      return Promise.resolve({ ok: false, error: "ipset: target is not a valid address" });
    const args = ["del", "-exist", this.#sets[target.family], address];
    return this.#serial(async () => {
      const r = await this.#ipsetRun(args);
      if (succeeded(r) || /does not exist/.test(r.stderr)) return { ok: true };
      return { ok: false, error: `ipset: ${describeFailure(this.#argv(args), r)}` };
    });
  }

  flush(): Promise<ResponderResult> {
    return this.#serial(async () => {
      // Rules first: the kernel refuses to destroy a set that a rule still references.
      for (const family of [4, 6] as const) {
        const r = await removeChain(this.#tools[family], this.#chain);
        if (!r.ok) return { ok: false, error: `ipset: ${r.error}` };
      }
      for (const set of [this.#sets[4], this.#sets[6]]) {
        const r = await this.#ipsetRun(["destroy", set]);
        if (!succeeded(r) && !/does not exist/.test(r.stderr)) {
          return { ok: false, error: `ipset: ${describeFailure(this.#argv(["destroy", set]), r)}` };
        }
      }
      return { ok: true };
    });
  }

  /** Nothing to release: no long-lived process; the sets and rules stay. */
  async stop(): Promise<void> {
    await this.#serial(async () => {});
  }

  /** What the kernel holds now (for reconciling with the daemon's state after a restart). */
  listBlocked(): Promise<
    | { readonly ok: true; readonly entries: readonly IpsetBlockedEntry[] }
    | { readonly ok: false; readonly error: string }
  > {
    return this.#serial(async () => {
      const entries: IpsetBlockedEntry[] = [];
      for (const family of [4, 6] as const) {
        const args = ["save", this.#sets[family]];
        const r = await this.#ipsetRun(args);
        if (!succeeded(r)) {
          if (/does not exist/.test(r.stderr)) continue;
          return { ok: false, error: `ipset: ${describeFailure(this.#argv(args), r)}` };
        }
        // `add portsentry4 198.51.100.1 timeout 599`; timeout 0 is forever.
        for (const line of r.stdout.split("\n")) {
          const m = /^add \S+ ([0-9a-fA-F.:]+)(?: timeout (\d+))?$/.exec(line.trim());
          const address = m ? commandSafeAddress({ address: m[1]!, family }) : undefined;
          if (address === undefined) continue;
          const sec = m?.[2] === undefined ? 0 : Number(m[2]);
          entries.push({ address, family, expiresSec: sec > 0 ? sec : null });
        }
      }
      return { ok: true, entries };
    });
  }

  async #setup(): Promise<ResponderResult> {
    for (const family of [4, 6] as const) {
      const set = this.#sets[family];
      // -exist: an identical set is fine; one with other parameters is reported.
      const args = ["create", set, "hash:ip", "family", family === 4 ? "inet" : "inet6", "timeout", "0"];
      args.push("maxelem", String(this.#maxElements), "-exist");
      const created = await this.#ipsetRun(args);
      if (!succeeded(created))
        return { ok: false, error: `ipset: ${describeFailure(this.#argv(args), created)}` };
      const chain = await ensureChain(this.#tools[family], this.#chain);
      if (!chain.ok) return { ok: false, error: `ipset: ${chain.error}` };
      const rule = await ensureRule(this.#tools[family], this.#chain, this.#rule(family));
      if (!rule.ok) return { ok: false, error: `ipset: ${rule.error}` };
    }
    return { ok: true };
  }

  #rule(family: IpFamily): string[] {
    return ["-m", "set", "--match-set", this.#sets[family], "src", "-j", "DROP"];
  }

  #argv(args: readonly string[]): string[] {
    return [...this.#ipset, ...args];
  }

  #ipsetRun(args: readonly string[]): Promise<RunResult> {
    return run(this.#argv(args), { timeoutMs: this.#timeoutMs });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#serialTail.then(fn, fn);
    this.#serialTail = next.catch(() => {});
    return next;
  }
}
