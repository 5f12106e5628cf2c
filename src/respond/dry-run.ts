/**
 * The dry run: a reactor with the live one's interface that carries nothing out. It works out
 * the one reaction plan (policy/reaction-plan.ts) for a block, with what each step would do
 * (the hosts.deny line, the route and command lines with $TARGET$ $PORT$ $MODE$ expanded), and
 * hands it on: `portsentry replay` prints it.
 */

import type { Config } from "../config/types.js";
import type { Reactions } from "../pipeline.js";
import { reactionPlan } from "../policy/reaction-plan.js";
import type { BlockRecord } from "../vocabulary.js";
import { HostsDenyResponder } from "./hosts-deny.js";
import { expandMacros } from "./template.js";

/** One step of the reaction chain, in the order the live reactor would run it. */
export type PlannedStep =
  | { readonly method: "hosts.deny"; readonly file: string; readonly line: string }
  | { readonly method: "nftables" | "iptables" | "ipset" }
  | { readonly method: "route" | "command"; readonly command: string }
  | { readonly method: "route" | "command" | "hosts.deny"; readonly error: string };

/** A block as the dry run would have made it. */
export interface PlannedBlock {
  readonly record: BlockRecord;
  /** 0: forever. */
  readonly banSec: number;
  readonly steps: readonly PlannedStep[];
  /** `would block 192.0.2.2 (stcp, port 143) for 24h via …` */
  readonly message: string;
}

/** Records the reaction the live Reactor would run (same steps, same order), runs nothing. */
export class DryRunReactor implements Reactions {
  readonly #config: Config;
  readonly #record: (planned: PlannedBlock) => void;
  readonly #hostsDeny: HostsDenyResponder | undefined;

  constructor(config: Config, record: (planned: PlannedBlock) => void) {
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
    this.#record({ record, banSec, steps, message: wouldBlockLine(record, banSec, steps) });
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
