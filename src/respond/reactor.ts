/**
 * Runs the reaction chain for one decided block (spec §6) and records it (spec §7).
 *
 * Order as in 1.2: with KILL_RUN_CMD_FIRST=0, hosts.deny, then KILL_FIREWALL and KILL_ROUTE,
 * then KILL_RUN_CMD; with 1, the command first. The blocking steps themselves are started
 * together and their lines logged in that order: none depends on another, and the firewall
 * element (the step that actually stops traffic) must not wait for an fsync of hosts.deny.
 * Level 2 (BLOCK_*="2") runs KILL_RUN_CMD only.
 */

import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { type ReactionSetup, type ReactionStep, reactionPlan } from "../policy/reaction-plan.js";
import type { BlockRegistry } from "../state/blocks.js";
import type { CatchUp } from "../state/catch-up.js";
import { type HistoryFile, historyLineOf } from "../state/history.js";
import { isDiskFull } from "../state/safe-files.js";
import type { BlockRecord } from "../vocabulary.js";
import { type CommandOutcome, runCommandTemplate } from "./command.js";
import type { HostsDenyResponder } from "./hosts-deny.js";
import type { BlockTarget, Responder, ResponderResult } from "./responder.js";
import { routeUndoTemplate } from "./route-undo.js";

export interface ReactorDeps {
  readonly config: Config;
  readonly log: Log;
  readonly registry: BlockRegistry;
  readonly history: HistoryFile;
  readonly hostsDeny: HostsDenyResponder | undefined;
  /** The built-in firewall blocker (KILL_FIREWALL), if any. */
  readonly firewall: Responder | undefined;
  readonly wallClockMs: () => number;
  /** Retries records (history, hosts.deny) that could not be written; without it, logged only. */
  readonly catchUp?: CatchUp;
}

export interface ReactorStats {
  blocks: number;
  lifted: number;
  failures: number;
}

type Step = () => void;

/** What made a block: a detection in userspace, the kernel trap, or the `block` command. */
export type BlockOrigin = "detection" | "kernel-trap" | "command";

export class Reactor {
  readonly #d: ReactorDeps;
  readonly stats: ReactorStats = { blocks: 0, lifted: 0, failures: 0 };
  /** New blocks by origin, and responder steps that succeeded for them ("nftables/detection"). */
  readonly blocksByOrigin: Record<BlockOrigin, number> = { detection: 0, "kernel-trap": 0, command: 0 };
  readonly actions = new Map<string, Record<BlockOrigin, number>>();

  constructor(deps: ReactorDeps) {
    this.#d = deps;
  }

  /** Reacts to `record` (already claimed in the registry); `name` is the host's display name. */
  async respond(
    record: BlockRecord,
    name: string | Promise<string>,
    origin: BlockOrigin = "detection",
  ): Promise<void> {
    const plan = reactionPlan(this.#setup(), record.level);
    // The command runs alone; the steps between are started together (the firewall first: it
    // is what stops traffic) and logged in the plan's order.
    const group = plan.filter((s) => s !== "command");
    let groupDone = false;
    for (const step of plan) {
      if (step === "command") {
        (await this.#runCommand(record, origin))();
      } else if (!groupDone) {
        groupDone = true;
        const started = new Map<ReactionStep, Promise<Step>>();
        for (const s of ["firewall", "hosts.deny", "route"] as const) {
          if (group.includes(s)) started.set(s, this.#start(s, record, origin));
        }
        for (const s of group) (await started.get(s)!)();
      }
    }
    this.stats.blocks++;
    this.blocksByOrigin[origin]++;
    const line = historyLineOf(record, await name);
    try {
      await Promise.all([this.writeHistory(record, line), this.#d.registry.recordInFile(record, line)]);
    } catch (err) {
      this.stats.failures++;
      this.#d.log.error(msg.recordFailed(record.address, (err as Error).message));
    }
  }

  /**
   * PROBATION_TIMEOUT: the firewall step alone (no hosts.deny, route, command or history line):
   * the blocker's probation place if it has one, else a ban the daemon lifts.
   */
  async probation(target: BlockTarget, banSec: number): Promise<void> {
    const firewall = this.#d.firewall;
    if (firewall === undefined) return;
    const r = await (firewall.probation?.(target, banSec) ?? firewall.ban(target, banSec));
    if (!r.ok) {
      this.stats.failures++;
      // A flood that fills the kernel's probation sets fails every one: one line per window.
      this.#d.log.limited("probation-failed", msg.blockFailed(target.address, firewall.name, r.error), {
        ip: target.address,
      });
    }
  }

  /** Whether a probation is lifted by the daemon: the blocker's elements do not time out. */
  get probationLiftedByDaemon(): boolean {
    return this.#d.firewall !== undefined && this.#d.firewall.probation === undefined;
  }

  /** Ends a probation (its time is up, or `unblock`): the firewall step only. */
  async liftProbation(target: BlockTarget): Promise<void> {
    const firewall = this.#d.firewall;
    if (firewall === undefined) return;
    const r = await firewall.unban(target);
    if (!r.ok) {
      this.stats.failures++;
      this.#d.log.error(msg.unblockFailed(target.address, firewall.name, r.error), { ip: target.address });
    }
  }

  /**
   * Appends the block's history line and marks it recorded; with `checkFirst` (a restart), not
   * if the line is already there. A failure is retried by the catch-up, if any.
   */
  async writeHistory(record: BlockRecord, line: string, checkFirst = false): Promise<void> {
    const { history, registry, catchUp } = this.#d;
    // The `recorded` mark follows the history append at once: the narrower the gap, the
    // rarer a history line written twice after a crash (the restart also looks for it).
    const write = async (check: boolean) => {
      if (!check || !(await history.hasLineOf(record))) await history.append(line);
      registry.markRecorded(record.address);
    };
    if (catchUp === undefined) return write(checkFirst);
    try {
      await write(checkFirst);
      catchUp.wrote();
    } catch (err) {
      // A failed append leaves no part of the line; the check covers a failed mark only.
      // Keyed by the block, not the host: a host blocked again must not replace its first line.
      const key = `the history line of ${record.address} (${line.slice(0, line.indexOf(" "))})`;
      catchUp.failed(key, () => write(true), err);
    }
  }

  /**
   * After a restart: puts a stored block back in force with the idempotent steps (firewall
   * element, hosts.deny line). KILL_ROUTE and KILL_RUN_CMD are not run again: a route
   * survives the daemon, and a command must not fire twice for one block.
   */
  async reapply(record: BlockRecord): Promise<void> {
    if (record.level !== 1) return;
    const steps = await Promise.all([this.#firewall(record), this.#wrappersQuiet(record)]);
    for (const step of steps) step();
  }

  /** Lifts a block everywhere it was applied (expiry or `unblock`), logging each failure. */
  async lift(record: BlockRecord): Promise<void> {
    const { config, log } = this.#d;
    if (record.level === 1) {
      const results: [string, Promise<ResponderResult>][] = [];
      if (this.#d.firewall) results.push([this.#d.firewall.name, this.#d.firewall.unban(record)]);
      if (this.#d.hostsDeny) results.push(["wrappers", this.#d.hostsDeny.unban(record)]);
      for (const [method, pending] of results) {
        const r = await pending;
        if (!r.ok) {
          this.stats.failures++;
          if (method === "wrappers") this.#retryHostsDeny(record, "lift", r.error);
          if (method === "wrappers" && this.#quietWhenFull(r.error)) continue;
          log.error(msg.unblockFailed(record.address, method, r.error), { ip: record.address, method });
        }
      }
      if (config.killRoute !== undefined) {
        const undo = routeUndoTemplate(config.killRoute, config.killRouteUndo);
        if (undo === undefined) {
          log.warn(msg.routeNotUndone(record.address));
        } else {
          const outcome = await runCommandTemplate(undo, record);
          if (!outcome.ok) {
            this.stats.failures++;
            log.error(msg.commandFailed(record.address, outcome.command, outcome.error));
          }
        }
      }
    }
    this.stats.lifted++;
  }

  /** The reaction setup of this config (which responders exist), for the plan. */
  #setup(): ReactionSetup {
    const { config, hostsDeny, firewall } = this.#d;
    return {
      command: config.killRunCmd !== undefined,
      commandFirst: config.killRunCmdFirst,
      hostsDeny: hostsDeny !== undefined,
      firewall: firewall !== undefined,
      route: config.killRoute !== undefined,
    };
  }

  #start(step: Exclude<ReactionStep, "command">, record: BlockRecord, origin: BlockOrigin): Promise<Step> {
    if (step === "firewall") return this.#firewall(record, origin);
    if (step === "hosts.deny") return this.#wrappers(record, origin);
    return this.#route(record, origin);
  }

  async #wrappersQuiet(target: BlockRecord): Promise<Step> {
    const hostsDeny = this.#d.hostsDeny;
    if (hostsDeny === undefined) return () => {};
    const r = await hostsDeny.ban(target, 0);
    if (!r.ok) this.#retryHostsDeny(target, "block", r.error);
    return r.ok ? () => {} : this.#logResult(r, target, "wrappers", () => "");
  }

  async #wrappers(target: BlockRecord, origin: BlockOrigin): Promise<Step> {
    const hostsDeny = this.#d.hostsDeny;
    if (hostsDeny === undefined) return () => {};
    const r = await hostsDeny.ban(target, 0);
    if (r.ok) this.#counted("hosts.deny", origin);
    else this.#retryHostsDeny(target, "block", r.error);
    return this.#logResult(r, target, "wrappers", () =>
      msg.blockedWrappers(target.address, hostsDeny.lineFor(target)),
    );
  }

  /** `origin` undefined: a block put back in force after a restart, not a new one. */
  async #firewall(target: BlockRecord, origin?: BlockOrigin): Promise<Step> {
    const firewall = this.#d.firewall;
    if (firewall === undefined) return () => {};
    const r = await firewall.ban(target, remainingSec(target, this.#d.wallClockMs()));
    if (r.ok && origin !== undefined) this.#counted(firewall.name, origin);
    return this.#logResult(r, target, firewall.name, () => msg.blockedVia(target.address, firewall.name));
  }

  async #route(target: BlockTarget, origin: BlockOrigin): Promise<Step> {
    const template = this.#d.config.killRoute;
    if (template === undefined) return () => {};
    const outcome = await runCommandTemplate(template, target);
    if (outcome.ok) this.#counted("route", origin);
    return this.#logCommand(outcome, target, () => msg.blockedRoute(target.address, outcome.command));
  }

  async #runCommand(target: BlockTarget, origin: BlockOrigin): Promise<Step> {
    const outcome = await runCommandTemplate(this.#d.config.killRunCmd ?? "", target);
    if (outcome.ok) this.#counted("command", origin);
    return this.#logCommand(outcome, target, () => msg.externalCommand(target.address, outcome.command));
  }

  #counted(responder: string, origin: BlockOrigin): void {
    let byOrigin = this.actions.get(responder);
    if (byOrigin === undefined) {
      byOrigin = { detection: 0, "kernel-trap": 0, command: 0 };
      this.actions.set(responder, byOrigin);
    }
    byOrigin[origin]++;
  }

  #logResult(r: ResponderResult, target: BlockTarget, method: string, success: () => string): Step {
    const event = { ip: target.address, port: target.port, mode: target.mode, method };
    if (r.ok) return () => this.#d.log.notice(success(), event);
    this.stats.failures++;
    if (method === "wrappers" && this.#quietWhenFull(r.error)) return () => {};
    return () => this.#d.log.error(msg.blockFailed(target.address, method, r.error), event);
  }

  /**
   * hosts.deny could not be changed: the catch-up brings it in line with the registry later
   * (the line present while the host is blocked, absent once it is not). A lift is decided by
   * the record: the registry still holds it until the lift is done, and only a new block of the
   * host since then wants the line back.
   */
  #retryHostsDeny(record: BlockRecord, change: "block" | "lift", error: string): void {
    const { catchUp, hostsDeny, registry } = this.#d;
    if (catchUp === undefined || hostsDeny === undefined) return;
    const sync = async () => {
      const current = registry.get(record.address);
      const wanted = change === "block" || current !== record ? current : undefined;
      const r = wanted !== undefined ? await hostsDeny.ban(wanted, 0) : await hostsDeny.unban(record);
      if (!r.ok) throw new Error(r.error);
    };
    catchUp.failed(`the hosts.deny line of ${record.address}`, sync, new Error(error), true);
  }

  /** On a full disk the catch-up has said it once: no line per host. */
  #quietWhenFull(error: string): boolean {
    return this.#d.catchUp !== undefined && isDiskFull(error);
  }

  #logCommand(outcome: CommandOutcome, target: BlockTarget, success: () => string): Step {
    const event = { ip: target.address, port: target.port, mode: target.mode, command: outcome.command };
    if (outcome.ok) return () => this.#d.log.notice(success(), event);
    this.stats.failures++;
    return () => this.#d.log.error(msg.commandFailed(target.address, outcome.command, outcome.error), event);
  }
}

/** Seconds a block has left (0 = forever; at least 1 so a nearly expired block is not forever). */
function remainingSec(record: BlockRecord, nowMs: number): number {
  if (record.expiresAtMs === 0) return 0;
  return Math.max(1, Math.ceil((record.expiresAtMs - nowMs) / 1000));
}
