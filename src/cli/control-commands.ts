/**
 * `portsentry status | blocked | unblock IP... | block IP | metrics`: one request to the running
 * daemon over its control socket, printed for people or, with --json, as the response object.
 */

import { loadConfig } from "../config/load.js";
import { formatConfigError } from "../config/types.js";
import { request } from "../control/client.js";
import {
  CLIENT_TIMEOUT_MS,
  type ControlCommandName,
  type ControlError,
  controlAddress,
  PROTOCOL_VERSION,
  socketPathFor,
} from "../control/protocol.js";
import type { AddressResult, BlockedEntry, ControlResults, StatusReport } from "../control/responses.js";
import { safeLine } from "../log/sanitize.js";
import type { Command } from "./args.js";

export type ControlCliCommand = Extract<Command, { readonly kind: ControlCommandName }>;

export interface ControlCommandOptions {
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  readonly timeoutMs?: number;
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** Runs one control command; resolves to the exit status (0 ok, 1 failure, 2 usage or config error). */
export async function runControlCommand(
  command: ControlCliCommand,
  options: ControlCommandOptions = {},
): Promise<number> {
  const stdout = options.stdout ?? ((t: string) => void process.stdout.write(t));
  const stderr = options.stderr ?? ((t: string) => void process.stderr.write(t));
  const args = "addresses" in command ? command.addresses : [];

  // 1. A typo in an address is a usage error, found before anything is sent.
  for (const a of args) {
    if (controlAddress(a) === undefined) {
      stderr(`portsentry: ${command.kind}: "${shown(a, 80)}" is not an IP address\n`);
      return EXIT_USAGE;
    }
  }

  // 2. The socket lives in the config's STATE_DIR.
  const loaded = await loadConfig(command.configPath);
  if (!loaded.ok) {
    for (const e of loaded.errors) stderr(`portsentry: ${formatConfigError(e)}\n`);
    return EXIT_USAGE;
  }
  const socketPath = socketPathFor(loaded.value.stateDir);
  return exchange(command.kind, args, socketPath, command.json, options.timeoutMs ?? CLIENT_TIMEOUT_MS, {
    stdout,
    stderr,
  });
}

async function exchange<C extends ControlCommandName>(
  cmd: C,
  args: readonly string[],
  socketPath: string,
  json: boolean,
  timeoutMs: number,
  io: { readonly stdout: (t: string) => void; readonly stderr: (t: string) => void },
): Promise<number> {
  const outcome = await request(socketPath, cmd, args, timeoutMs);
  if (!outcome.ok) {
    if (json)
      io.stdout(`${JSON.stringify({ v: PROTOCOL_VERSION, id: null, ok: false, error: outcome.error })}\n`);
    io.stderr(`portsentry: ${shown(outcome.error.message, 1024)}\n`);
    return exitForError(outcome.error);
  }
  if (json) {
    io.stdout(
      `${JSON.stringify({ v: PROTOCOL_VERSION, id: outcome.id, ok: true, result: outcome.result })}\n`,
    );
  } else {
    const shownResult = HUMAN[cmd](outcome.result);
    io.stdout(shownResult.stdout);
    if (shownResult.stderr !== "") io.stderr(shownResult.stderr);
  }
  return failedAddresses(outcome.result) ? EXIT_FAILURE : EXIT_OK;
}

function exitForError(error: ControlError): number {
  return error.code === "bad-address" || error.code === "bad-arguments" ? EXIT_USAGE : EXIT_FAILURE;
}

/** unblock/block: did the daemon fail on any address? */
function failedAddresses(result: unknown): boolean {
  return Array.isArray(result) && result.some((r: unknown) => (r as AddressResult).ok === false);
}

interface Printed {
  readonly stdout: string;
  readonly stderr: string;
}

/** The human form of each command's result (the mapped type makes a missing one a compile error). */
const HUMAN: { readonly [C in ControlCommandName]: (result: ControlResults[C]) => Printed } = {
  status: (r) => ({ stdout: formatStatus(r), stderr: "" }),
  blocked: (r) => ({ stdout: formatBlocked(r), stderr: "" }),
  unblock: formatAddressResults,
  "unblock-fleet": formatAddressResults,
  block: formatAddressResults,
  metrics: (r) => ({ stdout: r, stderr: "" }),
};

export function formatStatus(s: StatusReport): string {
  const lines = [
    `portsentry ${shown(s.version, 64)} (pid ${s.pid}), up ${formatDuration(s.uptimeSec)} since ${localTime(Date.parse(s.startedAt))}`,
    `config   ${shown(s.configFile, 1024)}`,
    `modes    ${s.modes.length === 0 ? "none" : s.modes.join(" ")}`,
    `blocked  ${s.blockedHosts} ${s.blockedHosts === 1 ? "host" : "hosts"}`,
  ];
  if (s.sensors.length > 0) {
    lines.push(
      "",
      ...table(
        ["MODE", "ARMED", "PORTS", "WATCHED"],
        s.sensors.map((x) => [x.mode, x.armed ? "yes" : "NO", String(x.portCount), shown(x.ports, 200)]),
        [false, false, true, false],
      ),
    );
  }
  if (s.fleet !== undefined) {
    const f = s.fleet;
    const state = f.connected ? "connected" : "NOT connected";
    lines.push(
      `fleet    ${shown(f.name, 64)} as ${shown(f.member, 64)}, ${state}, ${f.membersSeen} members seen, lag ${f.lagMs} ms`,
      `         events in ${f.eventsIn}, out ${f.eventsOut}, outbox ${f.outbox}, refused ${f.refused}, malformed ${f.malformed}`,
    );
    if (f.lastError !== "") lines.push(`         last error: ${shown(f.lastError, 200)}`);
  }
  const names = Object.keys(s.counters).sort();
  if (names.length > 0) {
    lines.push("", "counters");
    const width = Math.max(...names.map((n) => n.length));
    const values = names.map((n) => String(s.counters[n] ?? 0));
    const valueWidth = Math.max(...values.map((v) => v.length));
    names.forEach((n, i) => {
      lines.push(`  ${n.padEnd(width)}  ${values[i]!.padStart(valueWidth)}`);
    });
  }
  return `${lines.join("\n")}\n`;
}

export function formatBlocked(entries: readonly BlockedEntry[]): string {
  if (entries.length === 0) return "no hosts are blocked\n";
  const sorted = [...entries].sort((a, b) => a.sinceMs - b.sinceMs || a.address.localeCompare(b.address));
  const rows = sorted.map((e) => [
    e.address,
    e.mode,
    String(e.port),
    localTime(e.sinceMs),
    e.expiresAtMs === 0 ? "never" : localTime(e.expiresAtMs),
  ]);
  const header = ["ADDRESS", "MODE", "PORT", "SINCE", "EXPIRES"];
  // PROBATION_TIMEOUT: which are probations, when any is.
  if (sorted.some((e) => e.probation === true)) {
    header.push("BAN");
    for (const [i, e] of sorted.entries()) rows[i]?.push(e.probation === true ? "probation" : "block");
  }
  // FLEET_URL: where a block came from, when any came from the fleet.
  if (sorted.some((e) => e.origin !== undefined)) {
    header.push("ORIGIN");
    for (const [i, e] of sorted.entries())
      rows[i]?.push(e.origin === undefined ? "local" : shown(e.origin, 64));
  }
  return `${table(header, rows, [false, false, true]).join("\n")}\n`;
}

function formatAddressResults(results: readonly AddressResult[]): Printed {
  let stdout = "";
  let stderr = "";
  for (const r of results) {
    if (r.ok) stdout += `${r.address}: ${shown(r.message, 400)}\n`;
    else stderr += `portsentry: ${r.address}: ${shown(r.message, 400)} (${shown(r.code, 64)})\n`;
  }
  return { stdout, stderr };
}

/** Columns padded to their widest cell; `right` aligns numbers. The last column is not padded. */
function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly boolean[],
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => {
        if (i === cells.length - 1) return c;
        return right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!);
      })
      .join("  ");
  return [line(header), ...rows.map(line)];
}

/** Local time, `YYYY-MM-DD HH:MM:SS`. */
export function localTime(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** 93784 → "1d 02h 03m 04s"; leading zero units left out. */
export function formatDuration(totalSec: number): string {
  const s = Math.floor(totalSec);
  const parts: [number, string][] = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  const used = first < 0 ? parts.slice(3) : parts.slice(first);
  return used.map(([n, unit], i) => `${i === 0 ? n : String(n).padStart(2, "0")}${unit}`).join(" ");
}

/** Text from the daemon or the user, on a terminal: no control bytes, bounded. */
function shown(text: string, maxBytes: number): string {
  return safeLine(text, maxBytes);
}
