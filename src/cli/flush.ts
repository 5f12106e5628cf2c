/**
 * `portsentry flush`: removes every block the daemon applied (firewall table or chain, routes
 * it can undo, hosts.deny lines, blocked files, state) — the way to uninstall or start over.
 * Refused while the daemon runs: it would put its blocks straight back. A CLI command module:
 * portsentry.ts dispatches to `runFlush`, which prints and returns the exit status.
 */

import { join } from "node:path";
import { loadConfigOrThrow } from "../config/load.js";
import { request } from "../control/client.js";
import { socketPathFor } from "../control/protocol.js";
import type { Log } from "../log/logger.js";
import { createFirewall } from "../respond/firewall.js";
import { HostsDenyResponder } from "../respond/hosts-deny.js";
import { Reactor } from "../respond/reactor.js";
import { StartError } from "../start-error.js";
import { BlockRegistry } from "../state/blocks.js";
import { HistoryFile } from "../state/history.js";
import { StateStore } from "../state/store.js";
import type { Command } from "./args.js";

export interface FlushReport {
  readonly lifted: number;
  /** The built-in blocker whose table, chain or sets were removed, if any. */
  readonly firewall: string | undefined;
  readonly errors: readonly string[];
}

export type FlushCommand = Extract<Command, { kind: "flush" }>;

const EXIT_OK = 0;
const EXIT_FAILURE = 1;

/** Runs `portsentry flush`: errors on stderr, the count on stdout; 1 when anything failed. */
export async function runFlush(command: FlushCommand): Promise<number> {
  const report = await flushAll(command.configPath);
  for (const e of report.errors) process.stderr.write(`portsentry: ${e}\n`);
  const removed = report.firewall ? `; the ${report.firewall} table, chain or sets removed` : "";
  process.stdout.write(`portsentry: ${report.lifted} blocks lifted${removed}\n`);
  return report.errors.length === 0 ? EXIT_OK : EXIT_FAILURE;
}

export async function flushAll(configPath: string): Promise<FlushReport> {
  const { config } = await loadConfigOrThrow(configPath);
  const probe = await request(socketPathFor(config.stateDir), "status", [], 2000);
  if (probe.ok)
    throw new StartError("portsentry is running: stop it first (it would re-apply its blocks)", 1);

  const errors: string[] = [];
  const collect: Log = {
    notice() {},
    warn: (m) => errors.push(m),
    error: (m) => errors.push(m),
    limited() {},
  };
  const firewall = createFirewall(config);
  const hostsDeny =
    config.killHostsDeny !== undefined
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny)
      : undefined;
  const store = new StateStore(join(config.stateDir, "state.db"));
  try {
    const registry = new BlockRegistry(config.blockedFile, Number.MAX_SAFE_INTEGER, store);
    const reactor = new Reactor({
      config,
      log: collect,
      registry,
      history: new HistoryFile(config.historyFile),
      hostsDeny,
      firewall,
      wallClockMs: Date.now,
    });
    const blocks = registry.load();
    for (const b of blocks) {
      await reactor.lift(b);
      await registry.release(b.address);
    }
    const flushed = await firewall?.flush();
    if (flushed !== undefined && !flushed.ok) errors.push(`${firewall?.name}: ${flushed.error}`);
    return { lifted: blocks.length, firewall: firewall?.name, errors };
  } finally {
    await firewall?.stop();
    store.close();
  }
}
