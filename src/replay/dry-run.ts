/**
 * What replay does instead of acting: a log that collects the lines, the table of blocks in
 * memory (expiry by capture time), and a reactor that prints the one reaction plan.
 */

import { LRUCache } from "lru-cache";
import type { Config } from "../config/types.js";
import type { Log, LogEvent, LogLevelName } from "../log/logger.js";
import type { BlockClaims, Reactions } from "../pipeline.js";
import { reactionPlan } from "../policy/reaction-plan.js";
import { HostsDenyResponder } from "../respond/hosts-deny.js";
import { expandMacros } from "../respond/template.js";
import type { BlockRecord } from "../vocabulary.js";

import type { BlockEventBody, PlannedStep } from "./events.js";

/** Collects what the pipeline logs for one hit. */
export class CollectingLog implements Log {
  readonly lines: { level: LogLevelName; message: string }[] = [];
  notice(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
  warn(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "warning", message });
  }
  error(message: string, _event?: LogEvent): void {
    this.lines.push({ level: "err", message });
  }
  /** Live, the logger holds back repeats per source; replay shows every line. */
  limited(_key: string, message: string, _event?: LogEvent): void {
    this.lines.push({ level: "notice", message });
  }
}

/** The table of blocks in memory, with expiry by capture time. Bounded like the registry. */
export class DryRunBlocks implements BlockClaims {
  readonly #records = new Map<string, BlockRecord>();
  /** Blocks per host so far (BLOCK_TIMEOUT_GROWTH); bounded, least recent forgotten first. */
  readonly #offences: LRUCache<string, number>;
  readonly #maxBlocks: number;
  /** Min-heap of [expiresAtMs, address]; stale entries are skipped when popped. */
  readonly #heap: [number, string][] = [];
  offencesForgotten = 0;

  constructor(maxBlocks: number) {
    this.#maxBlocks = Math.max(1, maxBlocks);
    this.#offences = new LRUCache({
      max: this.#maxBlocks,
      dispose: (_n, _address, reason) => {
        if (reason === "evict") this.offencesForgotten++;
      },
    });
  }

  get full(): boolean {
    return this.#records.size >= this.#maxBlocks;
  }

  get size(): number {
    return this.#records.size;
  }

  has(address: string): boolean {
    return this.#records.has(address);
  }

  claim(record: BlockRecord): boolean {
    if (this.#records.has(record.address) || this.full) return false;
    this.#records.set(record.address, record);
    if (record.expiresAtMs !== 0) heapPush(this.#heap, [record.expiresAtMs, record.address]);
    return true;
  }

  /** Blocks of `address` so far. */
  offences(address: string): number {
    return this.#offences.get(address) ?? 0;
  }

  /** Counts one more block of `address`. */
  recordOffence(address: string): void {
    this.#offences.set(address, (this.#offences.get(address) ?? 0) + 1);
  }

  /** Removes and returns the blocks expired at `nowMs`. */
  expire(nowMs: number): BlockRecord[] {
    const out: BlockRecord[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]![0] <= nowMs) {
      const [at, address] = heapPop(heap)!;
      const record = this.#records.get(address);
      if (record === undefined || record.expiresAtMs !== at) continue;
      this.#records.delete(address);
      out.push(record);
    }
    return out;
  }

  /** The first `max` blocked addresses, oldest first. */
  addresses(max: number): string[] {
    const out: string[] = [];
    for (const address of this.#records.keys()) {
      if (out.length >= max) break;
      out.push(address);
    }
    return out;
  }
}

function heapPush(heap: [number, string][], item: [number, string]): void {
  heap.push(item);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (heap[parent]![0] <= heap[i]![0]) break;
    [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
    i = parent;
  }
}

function heapPop(heap: [number, string][]): [number, string] | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
    if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
    if (m === i) break;
    [heap[m], heap[i]] = [heap[i]!, heap[m]!];
    i = m;
  }
  return top;
}

/** Records the reaction the live Reactor would run (same steps, same order), runs nothing. */
export class DryRunReactor implements Reactions {
  readonly #config: Config;
  readonly #record: (e: BlockEventBody) => void;
  readonly #hostsDeny: HostsDenyResponder | undefined;

  constructor(config: Config, record: (e: BlockEventBody) => void) {
    this.#config = config;
    this.#record = record;
    // Only for `lineFor`: the line the live responder would write. Nothing is opened.
    this.#hostsDeny =
      config.killHostsDeny !== undefined
        ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
        : undefined;
  }

  respond(record: BlockRecord, _name: string): Promise<void> {
    const steps = planSteps(this.#config, record, this.#hostsDeny);
    const banSec = record.expiresAtMs === 0 ? 0 : Math.round((record.expiresAtMs - record.sinceMs) / 1000);
    this.#record({
      type: "block",
      address: record.address,
      family: record.family,
      mode: record.mode,
      port: record.port,
      level: record.level,
      banSec,
      steps,
      message: wouldBlockLine(record, banSec, steps),
    });
    return Promise.resolve();
  }
}

/** The live Reactor's steps for `record`: the one reaction plan, with what each step would do. */
export function planSteps(
  config: Config,
  record: BlockRecord,
  hostsDeny: HostsDenyResponder | undefined,
): PlannedStep[] {
  const command = (method: "route" | "command", template: string): PlannedStep => {
    try {
      return { method, command: expandMacros(template, record) };
    } catch (err) {
      return { method, error: (err as Error).message };
    }
  };
  const setup = {
    command: config.killRunCmd !== undefined,
    commandFirst: config.killRunCmdFirst,
    hostsDeny: hostsDeny !== undefined,
    firewall: config.killFirewall !== "none",
    route: config.killRoute !== undefined,
  };
  return reactionPlan(setup, record.level).map((step): PlannedStep => {
    switch (step) {
      case "command":
        return command("command", config.killRunCmd ?? "");
      case "route":
        return command("route", config.killRoute ?? "");
      case "firewall":
        return { method: config.killFirewall === "none" ? "nftables" : config.killFirewall };
      default:
        try {
          return {
            method: "hosts.deny",
            file: config.wrapperHostsDeny,
            line: hostsDeny?.lineFor(record) ?? "",
          };
        } catch (err) {
          return { method: "hosts.deny", error: (err as Error).message };
        }
    }
  });
}

/** `would block 192.0.2.2 (stcp, port 143) for 24h via hosts.deny "ALL: 192.0.2.2", nftables` */
export function wouldBlockLine(record: BlockRecord, banSec: number, steps: readonly PlannedStep[]): string {
  const what = `${record.address} (${record.mode}, port ${record.port})`;
  const via = steps.map((s) => {
    if ("error" in s) return `${s.method} (not possible: ${s.error})`;
    if (s.method === "hosts.deny") return `hosts.deny "${s.line}"`;
    if (s.method === "route" || s.method === "command") return `${s.method} "${s.command}"`;
    return s.method;
  });
  if (record.level === 2) {
    return via.length > 0
      ? `would run for ${what}: ${via.join(", ")}`
      : `would run nothing for ${what}: KILL_RUN_CMD is not set`;
  }
  const how =
    via.length > 0
      ? `via ${via.join(", ")}`
      : "in the history and blocked files only (no blocking step configured)";
  return `would block ${what} ${banSec === 0 ? "forever" : `for ${formatDuration(banSec)}`} ${how}`;
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
