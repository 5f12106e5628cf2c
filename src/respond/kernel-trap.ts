/**
 * KERNEL_TRAP's runtime: runs the trap's `nft -f` transactions (kernel-trap-script.ts, where the
 * ruleset is described) one at a time, and keeps what the kernel holds: whether the trap is
 * armed and the never-trapped sets, so that an unchanged set costs no nft run. Which modes the
 * kernel runs is policy's decision (policy/kernel-trap-plan.ts).
 */

import type { IpPrefix } from "../config/ignore.js";
import { LIMITS } from "../limits.js";
import type { KernelMode } from "../policy/kernel-trap-plan.js";
import {
  checkSpec,
  DEFAULT_LOG_SNAPLEN,
  DEFAULT_NFLOG_GROUP,
  disarmScript,
  graceScript,
  HOSTS_SET4,
  HOSTS_SET6,
  hostPrefixes,
  type KernelTrapSpec,
  kernelTrapScript,
  mergePrefixes,
  PROTECT_SET4,
  PROTECT_SET6,
  type ProtectedRanges,
  replaceSetsScript,
  TRAP_CHAIN,
  TRAP_OVER_LIMIT,
  TRAP_PROBATIONS,
  TRAP_PROBES,
  TRAP_REPEATS,
} from "./kernel-trap-script.js";
import { nftSetupLine } from "./nftables.js";
import type { ResponderResult } from "./responder.js";
import { describeFailure, run, succeeded } from "./run.js";

export interface KernelTrapOptions {
  readonly modes: readonly KernelMode[];
  readonly timeoutSec: number;
  readonly maxBlocksPerMinute: number;
  /** Default `DEFAULT_NFLOG_GROUP`; the kernel-trap sensor must read the same group. */
  readonly group?: number;
  readonly interfaces?: readonly string[];
  /** argv prefix that runs nft; default `["nft"]`. */
  readonly command?: readonly string[];
  /** Default `portsentry`: the nftables responder's table. */
  readonly table?: string;
  /** Must equal the responder's `maxSetElements` (default 65536). */
  readonly maxSetElements?: number;
  readonly logSnapLength?: number;
  /** DETECT_ACK_SCANS (KernelTrapSpec.ackScans); absent: no. */
  readonly ackScans?: boolean;
  /** LISTEN_GRACE (KernelTrapSpec.graceSec); absent: none. */
  readonly graceSec?: number;
  /** PROBATION_TIMEOUT (KernelTrapSpec.probationSec); absent: none. */
  readonly probationSec?: number;
  /** Default LIMITS.kernelOverLimitReportsPerSec. */
  readonly overLimitReportsPerSec?: number;
  /** Per transaction; default 10 000 ms (a long ignore list is a long transaction). */
  readonly commandTimeoutMs?: number;
}

export type SetProtectedResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly error: string };

const EMPTY_RANGES: ProtectedRanges = { v4: [], v6: [] };

export class KernelTrap {
  readonly spec: KernelTrapSpec;
  readonly #command: readonly string[];
  readonly #timeoutMs: number;
  /** What the kernel holds (or will, once start() runs), and its text for cheap comparison. */
  readonly #sets = {
    protect: { ranges: EMPTY_RANGES, key: "", set4: PROTECT_SET4, set6: PROTECT_SET6 },
    hosts: { ranges: EMPTY_RANGES, key: "", set4: HOSTS_SET4, set6: HOSTS_SET6 },
  };
  #armed = false;
  #serialTail: Promise<unknown> = Promise.resolve();

  constructor(options: KernelTrapOptions) {
    this.spec = {
      table: options.table ?? "portsentry",
      group: options.group ?? DEFAULT_NFLOG_GROUP,
      modes: options.modes,
      timeoutSec: options.timeoutSec,
      maxBlocksPerMinute: options.maxBlocksPerMinute,
      interfaces: options.interfaces ?? [],
      maxSetElements: options.maxSetElements ?? 65536,
      logSnapLength: options.logSnapLength ?? DEFAULT_LOG_SNAPLEN,
      ackScans: options.ackScans === true,
      graceSec: options.graceSec ?? 0,
      overLimitReportsPerSec: options.overLimitReportsPerSec ?? LIMITS.kernelOverLimitReportsPerSec,
      probationSec: options.probationSec ?? 0,
      probationReportsPerSec: LIMITS.kernelProbationReportsPerSec,
      seenReportsPerSec: LIMITS.kernelSeenReportsPerSec,
      seenSec: LIMITS.kernelSeenSec,
    };
    this.#command = options.command ?? ["nft"];
    this.#timeoutMs = options.commandTimeoutMs ?? 10_000;
    const check = checkSpec(this.spec);
    // A bad spec is a bug in the caller (config validated it), hence a throw.
    if (!check.ok) throw new RangeError(`kernel trap: ${check.error}`);
    if (this.#command.length === 0) throw new RangeError("kernel trap: empty command");
  }

  get armed(): boolean {
    return this.#armed;
  }

  /**
   * Creates or replaces the trap, with the prefixes last given to setProtected and
   * setHostAddresses (give them first). Start the NFLOG reader before this: a block logged to
   * a group nobody reads is lost.
   */
  start(tableReady = false): Promise<ResponderResult> {
    return this.#serial(async () => {
      // The responder's table and sets first, in a transaction of their own (see
      // kernelTrapScript); `tableReady`: the responder has just made them (the daemon's start).
      if (!tableReady) {
        const setup = await this.#exec(`${nftSetupLine(this.spec.table, this.spec.maxSetElements)}\n`);
        if (!setup.ok) return { ok: false, error: `kernel trap: cannot create the table: ${setup.error}` };
      }
      const script = kernelTrapScript(this.spec, this.#sets.protect.ranges, this.#sets.hosts.ranges);
      const r = await this.#exec(script);
      if (r.ok) this.#armed = true;
      return r.ok ? r : { ok: false, error: `kernel trap: cannot arm: ${r.error}` };
    });
  }

  /**
   * Replaces the never-trapped networks of the ignore list (with loopback) atomically: at
   * start and on SIGHUP. A long list costs a merge (~130 ms for 100 000 networks), which is why
   * the host's own facts have a set of their own.
   */
  setProtected(prefixes: readonly IpPrefix[]): Promise<SetProtectedResult> {
    return this.#replace("protect", mergePrefixes(prefixes));
  }

  /**
   * Replaces the never-trapped host addresses: this host's own, default gateways, name
   * servers. Cheap when unchanged (no nft run): call it every few seconds.
   */
  setHostAddresses(addresses: Iterable<string>): Promise<SetProtectedResult> {
    return this.#replace("hosts", mergePrefixes(hostPrefixes(addresses)));
  }

  #replace(which: "protect" | "hosts", ranges: ProtectedRanges): Promise<SetProtectedResult> {
    const key = `${ranges.v4.join(",")}|${ranges.v6.join(",")}`;
    return this.#serial(async () => {
      const current = this.#sets[which];
      if (key === current.key) return { ok: true, changed: false };
      if (this.#armed) {
        const r = await this.#exec(replaceSetsScript(this.spec.table, current.set4, current.set6, ranges));
        if (!r.ok) return { ok: false, error: `kernel trap: cannot set the ${which} sets: ${r.error}` };
      }
      current.ranges = ranges;
      current.key = key;
      return { ok: true, changed: true };
    });
  }

  /** LISTEN_GRACE: starts or restarts the grace of ports that listen now (advanced modes' ports). */
  setGrace(ports: {
    readonly tcp: readonly number[];
    readonly udp: readonly number[];
  }): Promise<ResponderResult> {
    return this.#serial(async () => {
      const script = graceScript(this.spec.table, ports, this.spec.graceSec ?? 0);
      if (!this.#armed || script === "") return { ok: true };
      const r = await this.#exec(script);
      return r.ok ? r : { ok: false, error: `kernel trap: cannot set the grace ports: ${r.error}` };
    });
  }

  /** Removes the trap; blocks stay in force. Idempotent. */
  disarm(): Promise<ResponderResult> {
    return this.#serial(async () => {
      const r = await this.#exec(disarmScript(this.spec.table));
      this.#armed = false;
      return r.ok ? r : { ok: false, error: `kernel trap: cannot disarm: ${r.error}` };
    });
  }

  /**
   * Whether the trap chain is still in the kernel (someone may have run `nft flush ruleset`;
   * the responder then recreates its table, not the trap). Call periodically; re-arm with start().
   * `list chains` names the chains without their rules: `list chain` would load every set's
   * elements first (seconds once a flood has filled the probation sets; see TALLY_SET_TYPE).
   */
  async present(): Promise<boolean | undefined> {
    const argv = [...this.#command, "-j", "list", "chains", "inet"];
    const r = await run(argv, { timeoutMs: this.#timeoutMs });
    if (!succeeded(r)) return undefined;
    try {
      const listed = (JSON.parse(r.stdout) as { nftables?: { chain?: { table?: string; name?: string } }[] })
        .nftables;
      if (!Array.isArray(listed)) return undefined;
      return listed.some((o) => o.chain?.table === this.spec.table && o.chain?.name === TRAP_CHAIN);
    } catch {
      return undefined;
    }
  }

  /** Probes that found the limit empty and went on to the daemon (the counter's packets). */
  overLimitCount(): Promise<number | undefined> {
    return this.#counter(TRAP_OVER_LIMIT);
  }

  /** PROBATION_TIMEOUT: sources the trap put on probation, reported or not. */
  probationCount(): Promise<number | undefined> {
    return this.#counter(TRAP_PROBATIONS);
  }

  /** PROBATION_TIMEOUT: probes from sources on probation (repeats), reported or not. */
  repeatCount(): Promise<number | undefined> {
    return this.#counter(TRAP_REPEATS);
  }

  /** Log-only modes: every probe the kernel judged, reported or not. */
  probeCount(): Promise<number | undefined> {
    return this.#counter(TRAP_PROBES);
  }

  /** The sum of a tally set's element counters (TALLY_SET_TYPE: why not a named counter). */
  async #counter(name: string): Promise<number | undefined> {
    const argv = [...this.#command, "-j", "list", "set", "inet", this.spec.table, name];
    const r = await run(argv, { timeoutMs: this.#timeoutMs });
    if (!succeeded(r)) return undefined;
    const counts = [...r.stdout.matchAll(/"packets":\s*(\d+)/g)].map((m) => Number(m[1]));
    return counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : undefined;
  }

  async #exec(script: string): Promise<ResponderResult> {
    const argv = [...this.#command, "-f", "-"];
    const r = await run(argv, { timeoutMs: this.#timeoutMs, input: script });
    return succeeded(r) ? { ok: true } : { ok: false, error: describeFailure(argv, r) };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#serialTail.then(fn, fn);
    this.#serialTail = next.catch(() => {});
    return next;
  }
}
