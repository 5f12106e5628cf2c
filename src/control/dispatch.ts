/**
 * The dispatch half of the command table (protocol.ts): a parsed request → the daemon's
 * ControlHandler → the command's result, and the audit lines of the commands that change state.
 */

import * as msg from "../log/messages.js";
import { formatMetrics } from "./metrics.js";
import { type ControlCommandName, controlCommand } from "./protocol.js";
import type {
  AddressResult,
  BlockedEntry,
  ControlResult,
  ControlResults,
  StatusReport,
} from "./responses.js";

/** What the daemon offers the control channel. Addresses arrive validated and canonical. */
export interface ControlHandler {
  status(): StatusReport;
  /** Brings counters kept elsewhere (the kernel's) up to date before `status`; optional. */
  refreshCounters?(): Promise<void>;
  blocked(): readonly BlockedEntry[];
  unblock(address: string): Promise<ControlResult>;
  /** FLEET_URL: here and on every member; without a fleet, refused. */
  unblockFleet(address: string): Promise<ControlResult>;
  block(address: string): Promise<ControlResult>;
}

/** The mapped type makes a missing command a compile error. */
const DISPATCH: {
  readonly [C in ControlCommandName]: (
    h: ControlHandler,
    args: readonly string[],
  ) => ControlResults[C] | Promise<ControlResults[C]>;
} = {
  status: async (h) => {
    await h.refreshCounters?.();
    return h.status();
  },
  blocked: (h) => h.blocked().map(blockedEntry),
  unblock: (h, args) => eachAddress(args, (a) => h.unblock(a)),
  "unblock-fleet": (h, args) => eachAddress(args, (a) => h.unblockFleet(a)),
  block: (h, args) => eachAddress(args, (a) => h.block(a)),
  metrics: async (h) => {
    await h.refreshCounters?.();
    return formatMetrics(h.status());
  },
};

/** Runs `cmd` on the handler; what it throws (or rejects with) is the caller's to answer. */
export function dispatch(
  handler: ControlHandler,
  cmd: ControlCommandName,
  args: readonly string[],
): ControlResults[ControlCommandName] | Promise<ControlResults[ControlCommandName]> {
  return DISPATCH[cmd](handler, args);
}

/** Only the documented fields go out (a BlockRecord carries more). */
function blockedEntry(e: BlockedEntry): BlockedEntry {
  const entry = {
    address: e.address,
    mode: e.mode,
    port: e.port,
    sinceMs: e.sinceMs,
    expiresAtMs: e.expiresAtMs,
  };
  return {
    ...entry,
    ...(e.origin === undefined ? {} : { origin: e.origin }),
    ...(e.probation === true ? { probation: true } : {}),
  };
}

/** One address after the other: responders (nft, hosts.deny) are not made to race themselves. */
async function eachAddress(
  addresses: readonly string[],
  act: (address: string) => Promise<ControlResult>,
): Promise<AddressResult[]> {
  const out: AddressResult[] = [];
  for (const address of addresses) {
    let r: ControlResult;
    try {
      r = await act(address);
    } catch (err) {
      r = { ok: false, code: "failed", message: `internal error: ${(err as Error).message}` };
    }
    out.push(
      r.ok
        ? { address, ok: true, changed: r.changed, message: r.message }
        : { address, ok: false, code: r.code, message: r.message },
    );
  }
  return out;
}

/**
 * State changes made over the socket are logged, one line an address (the handler need not):
 * the lines for a mutating command's result, none for a command that only reads.
 */
export function auditLines(cmd: ControlCommandName, result: unknown): string[] {
  if (controlCommand(cmd)?.mutates !== true || !isAddressResults(result)) return [];
  return result.map((r) => {
    const outcome = r.ok ? r.message : `refused (${r.code}): ${r.message}`;
    return msg.controlRequest(cmd, r.address, outcome);
  });
}

/** Narrows a mutating command's result for the audit line. */
function isAddressResults(v: unknown): v is readonly AddressResult[] {
  return Array.isArray(v);
}
