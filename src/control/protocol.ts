/**
 * The control protocol between the running daemon and the CLI (spec §1): versioned JSON lines
 * over a Unix socket, one request object per line, one response object per line.
 *
 *   → {"v":1,"id":7,"cmd":"unblock","args":["192.0.2.1"]}
 *   ← {"v":1,"id":7,"ok":true,"result":[{"address":"192.0.2.1","ok":true,"changed":true,"message":"unblocked"}]}
 *   ← {"v":1,"id":7,"ok":false,"error":{"code":"bad-address","message":"\"1.2.3\" is not an IP address"}}
 *
 * CONTROL_COMMANDS is the one command table (house style 10): the server dispatches on it, the
 * client and `src/cli/args.ts` take their commands from it, docs/control.md is checked against it.
 * This module holds the table, the protocol's limits and the request side (a request line
 * written and read); responses.ts holds what comes back. Everything received is validated, on
 * both sides. Pure: no I/O.
 */

import { formatIp, parseIp, unmapIpv4 } from "../decode/address.js";

import { CONTROL_LIMITS } from "../limits.js";
export const PROTOCOL_VERSION = 1;
/** The socket's file name inside STATE_DIR. */
export const SOCKET_NAME = "portsentry.sock";
// The limits, with their reasons, are in src/limits.ts (CONTROL_LIMITS).
export const MAX_REQUEST_BYTES = CONTROL_LIMITS.maxRequestBytes;
export const MAX_RESPONSE_BYTES = CONTROL_LIMITS.maxResponseBytes;
export const MAX_CONNECTIONS = CONTROL_LIMITS.maxConnections;
export const EVICT_IDLE_AFTER_MS = CONTROL_LIMITS.evictIdleAfterMs;
export const IDLE_TIMEOUT_MS = CONTROL_LIMITS.idleTimeoutMs;
export const HANDLER_TIMEOUT_MS = CONTROL_LIMITS.handlerTimeoutMs;
/** The CLI waits a little longer than the server's handler timeout. */
export const CLIENT_TIMEOUT_MS = HANDLER_TIMEOUT_MS + 5_000;
export const MAX_ADDRESSES = CONTROL_LIMITS.maxAddresses;
/** `sun_path` is 108 bytes on Linux, including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export function socketPathFor(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/${SOCKET_NAME}`;
}

/** One entry of the command table. */
export interface ControlCommandSpec {
  readonly name: string;
  /** Argument synopsis for help and docs: "", "IP" or "IP...". */
  readonly args: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Whether the command changes the daemon's state (blocks). */
  readonly mutates: boolean;
  readonly help: string;
  /** What `result` holds in a successful response (docs). */
  readonly result: string;
}

/** The one command table: CLI help, server dispatch, client, docs/control.md. */
export const CONTROL_COMMANDS = [
  {
    name: "status",
    args: "",
    minArgs: 0,
    maxArgs: 0,
    mutates: false,
    help: "modes, armed sensors, watched ports and counters of the running daemon",
    result: "a StatusReport object",
  },
  {
    name: "blocked",
    args: "",
    minArgs: 0,
    maxArgs: 0,
    mutates: false,
    help: "the hosts the running daemon has blocked",
    result: "an array of BlockedEntry objects",
  },
  {
    name: "unblock",
    args: "IP...",
    minArgs: 1,
    maxArgs: MAX_ADDRESSES,
    mutates: true,
    help: "lift the block on each IP everywhere it was applied",
    result: "an array of AddressResult objects, one per distinct address",
  },
  {
    name: "unblock-fleet",
    args: "IP...",
    minArgs: 1,
    maxArgs: MAX_ADDRESSES,
    mutates: true,
    help: "lift the block on each IP here and on every member of the fleet (`unblock --fleet`)",
    result: "an array of AddressResult objects, one per distinct address",
  },
  {
    name: "block",
    args: "IP",
    minArgs: 1,
    maxArgs: 1,
    mutates: true,
    help: "block IP as if it had tripped a sensor",
    result: "an array of one AddressResult object",
  },
  {
    name: "metrics",
    args: "",
    minArgs: 0,
    maxArgs: 0,
    mutates: false,
    help: "the status counters in Prometheus text exposition format",
    result: "a string (text/plain; version=0.0.4)",
  },
] as const satisfies readonly ControlCommandSpec[];

export type ControlCommandName = (typeof CONTROL_COMMANDS)[number]["name"];
/** Commands without arguments. */
export type PlainControlCommand = Extract<(typeof CONTROL_COMMANDS)[number], { maxArgs: 0 }>["name"];
/** Commands that take IP addresses. */
export type AddressControlCommand = Exclude<ControlCommandName, PlainControlCommand>;

const COMMANDS_BY_NAME: ReadonlyMap<string, ControlCommandSpec> = new Map(
  CONTROL_COMMANDS.map((c) => [c.name, c]),
);

export function controlCommand(name: string): ControlCommandSpec | undefined {
  return COMMANDS_BY_NAME.get(name);
}

export function argCountText(spec: ControlCommandSpec): string {
  if (spec.maxArgs === 0) return "no arguments";
  if (spec.minArgs === spec.maxArgs) return `exactly ${spec.minArgs === 1 ? "one" : spec.minArgs} IP address`;
  return `from ${spec.minArgs} to ${spec.maxArgs} IP addresses`;
}

/** The command table as the Markdown table in docs/control.md (a test keeps them equal). */
export function commandTableMarkdown(): string {
  const rows = CONTROL_COMMANDS.map(
    (c) =>
      `| \`${c.name}\` | ${c.args === "" ? "—" : `\`${c.args}\``} | ${c.mutates ? "yes" : "no"} | ${c.help} | ${c.result} |`,
  );
  return [
    "| command | arguments | changes state | what it does | `result` |",
    "|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface ControlRequest {
  readonly v: typeof PROTOCOL_VERSION;
  readonly id: number;
  readonly cmd: ControlCommandName;
  /** Canonical addresses after parseRequest; as given before. */
  readonly args: readonly string[];
}

/**
 * Error codes of a response: `bad-json`, `bad-request`, `unsupported-version`, `unknown-command`,
 * `bad-arguments`, `bad-address`, `line-too-long`, `busy`, `timeout`, `internal`. The client adds
 * its own: `not-running`, `permission-denied`, `connection-closed`, `bad-response`, `connect-failed`.
 */
export interface ControlError {
  readonly code: string;
  readonly message: string;
}

export type ParsedRequest =
  | { readonly ok: true; readonly request: ControlRequest }
  | { readonly ok: false; readonly id: number | null; readonly error: ControlError };

const REQUEST_KEYS = new Set(["v", "id", "cmd", "args"]);
/** Longest address text accepted (a full IPv6 with an embedded IPv4 is 45). */
const MAX_ADDRESS_CHARS = 64;

/** Validates one request line (already cut at the newline, decoded as UTF-8). Never throws. */
export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return reject(null, "bad-json", "the request is not valid JSON");
  }
  if (!isRecord(value)) return reject(null, "bad-request", "the request must be a JSON object");
  const id = isRequestId(value.id) ? value.id : null;
  if (id === null) return reject(null, "bad-request", '"id" must be an integer from 0 to 2^53-1');
  if (value.v !== PROTOCOL_VERSION) {
    return reject(id, "unsupported-version", `protocol version must be ${PROTOCOL_VERSION}`);
  }
  for (const key of Object.keys(value)) {
    if (!REQUEST_KEYS.has(key)) return reject(id, "bad-request", `unknown field "${shown(key)}"`);
  }
  if (typeof value.cmd !== "string") return reject(id, "bad-request", '"cmd" must be a string');
  const spec = controlCommand(value.cmd);
  if (spec === undefined) {
    const names = CONTROL_COMMANDS.map((c) => c.name).join(", ");
    return reject(id, "unknown-command", `unknown command "${shown(value.cmd)}"; commands: ${names}`);
  }
  const rawArgs = value.args === undefined ? [] : value.args;
  if (!Array.isArray(rawArgs) || !rawArgs.every((a): a is string => typeof a === "string")) {
    return reject(id, "bad-arguments", '"args" must be an array of strings');
  }
  if (rawArgs.length < spec.minArgs || rawArgs.length > spec.maxArgs) {
    return reject(id, "bad-arguments", `${spec.name} takes ${argCountText(spec)}`);
  }
  // Every argument of today's commands is an IP address.
  const args: string[] = [];
  for (const a of rawArgs) {
    const address = controlAddress(a);
    if (address === undefined) return reject(id, "bad-address", `"${shown(a)}" is not an IP address`);
    if (!args.includes(address)) args.push(address);
  }
  return { ok: true, request: { v: PROTOCOL_VERSION, id, cmd: spec.name as ControlCommandName, args } };
}

/**
 * The canonical form of an address given to a control command: IPv4 dotted quad or RFC 5952
 * IPv6; an IPv4-mapped IPv6 address becomes the IPv4 address, as the sensors report it.
 */
export function controlAddress(text: string): string | undefined {
  if (text.length > MAX_ADDRESS_CHARS) return undefined;
  const ip = parseIp(text);
  return ip === undefined ? undefined : formatIp(unmapIpv4(ip));
}

export function requestLine(id: number, cmd: ControlCommandName, args: readonly string[]): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, cmd, args })}\n`;
}

function reject(id: number | null, code: string, message: string): ParsedRequest {
  return { ok: false, id, error: { code, message } };
}

/** Text from a peer, quoted back in a message: short, no control bytes. */
export function shown(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isRequestId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
