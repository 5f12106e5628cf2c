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
 * Everything received is validated here, on both sides. Pure: no I/O.
 */

import { formatIp, parseIp, unmapIpv4 } from "../decode/address.js";
import type { Mode } from "../vocabulary.js";

export const PROTOCOL_VERSION = 1;
/** The socket's file name inside STATE_DIR. */
export const SOCKET_NAME = "portsentry.sock";
/** Longest request line the server reads (bytes, without the newline). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Longest response line the client reads: 100 000 blocks of about 120 bytes fit. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/**
 * Connections served at once. When all are taken, a new one takes the slot of the connection
 * idle longest, if that one has waited `EVICT_IDLE_AFTER_MS` for a request; else it is answered
 * `busy` and closed. So clients that connect and say nothing cannot lock `status` out.
 */
export const MAX_CONNECTIONS = 16;
/** A connection idle this long gives its slot up to a new one when all slots are taken. */
export const EVICT_IDLE_AFTER_MS = 500;
/** A connection that sends no complete request for this long is closed. */
export const IDLE_TIMEOUT_MS = 10_000;
/** A handler that has not answered by then gets a `timeout` error response. */
export const HANDLER_TIMEOUT_MS = 15_000;
/** The CLI waits a little longer than the server's handler timeout. */
export const CLIENT_TIMEOUT_MS = HANDLER_TIMEOUT_MS + 5_000;
/** Addresses one unblock request may carry (a 64 KiB line holds about 1 500 IPv6 addresses). */
export const MAX_ADDRESSES = 1024;
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

// ---------------------------------------------------------------------------------------------
// Results

export interface SensorStatus {
  readonly mode: Mode;
  /** Every port of the sensor is bound or its capture is open. */
  readonly armed: boolean;
  readonly portCount: number;
  /** Compact list, e.g. "1,11,143,32771-32774" (see compactPorts). */
  readonly ports: string;
}

export interface StatusReport {
  readonly version: string;
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly uptimeSec: number;
  readonly configFile: string;
  readonly modes: readonly Mode[];
  readonly sensors: readonly SensorStatus[];
  /** Hosts blocked right now. */
  readonly blockedHosts: number;
  /**
   * Monotonic event counters, flat, camelCase names (hits, ignored, detections, blocks,
   * expiries, evictions, heldBack, decodeDrops, kernelDrops, errors, logSuppressed, ...).
   */
  readonly counters: Readonly<Record<string, number>>;
}

export interface BlockedEntry {
  readonly address: string;
  readonly mode: Mode;
  readonly port: number;
  /** Wall-clock milliseconds. */
  readonly sinceMs: number;
  /** Wall-clock milliseconds; 0 = never. */
  readonly expiresAtMs: number;
}

/**
 * What the daemon did with one address. `changed: false` is a no-op that is not an error
 * (unblocking a host that is not blocked, blocking one that is). Failure codes: `protected`
 * (ignore file, own address, gateway, name server), `limit` (block table full), `failed` (a
 * responder failed; the message says which).
 */
export type ControlResult =
  | { readonly ok: true; readonly changed: boolean; readonly message: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

export type AddressResult = { readonly address: string } & ControlResult;

/** The result type of each command. */
export interface ControlResults {
  readonly status: StatusReport;
  readonly blocked: readonly BlockedEntry[];
  readonly unblock: readonly AddressResult[];
  readonly block: readonly AddressResult[];
  readonly metrics: string;
}

// ---------------------------------------------------------------------------------------------
// Requests and responses

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

/**
 * Every response line's wire shape, for clients other than ours (ours reads it field by field).
 * @public
 */
export type ControlResponse =
  | { readonly v: 1; readonly id: number | null; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly id: number | null; readonly ok: false; readonly error: ControlError };

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

export function argCountText(spec: ControlCommandSpec): string {
  if (spec.maxArgs === 0) return "no arguments";
  if (spec.minArgs === spec.maxArgs) return `exactly ${spec.minArgs === 1 ? "one" : spec.minArgs} IP address`;
  return `from ${spec.minArgs} to ${spec.maxArgs} IP addresses`;
}

export function requestLine(id: number, cmd: ControlCommandName, args: readonly string[]): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, cmd, args })}\n`;
}

export function okLine(id: number, result: unknown): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, result })}\n`;
}

export function errorLine(id: number | null, code: string, message: string): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error: { code, message } })}\n`;
}

/** Validates a response line on the client: envelope, id, and the result of `cmd`. */
export function parseResponse<C extends ControlCommandName>(
  line: string,
  expectedId: number,
  cmd: C,
):
  | { readonly ok: true; readonly result: ControlResults[C] }
  | { readonly ok: false; readonly error: ControlError } {
  const bad = (why: string) => ({ ok: false as const, error: { code: "bad-response", message: why } });
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return bad("the daemon's answer is not valid JSON");
  }
  if (!isRecord(value) || value.v !== PROTOCOL_VERSION)
    return bad("the daemon speaks another protocol version");
  if (value.ok === false) {
    const e = value.error;
    if (!isRecord(e) || !isShortText(e.code, 64) || typeof e.message !== "string") {
      return bad("the daemon's error answer is malformed");
    }
    return { ok: false, error: { code: e.code, message: e.message } };
  }
  if (value.ok !== true) return bad('the daemon\'s answer has no "ok" field');
  if (value.id !== expectedId) return bad("the daemon answered another request");
  const check = RESULT_CHECKS[cmd] as (v: unknown) => string | undefined;
  const problem = check(value.result);
  if (problem !== undefined) return bad(`the daemon's ${cmd} result is malformed: ${problem}`);
  return { ok: true, result: value.result as ControlResults[C] };
}

function reject(id: number | null, code: string, message: string): ParsedRequest {
  return { ok: false, id, error: { code, message } };
}

/** Text from a peer, quoted back in a message: short, no control bytes. */
function shown(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

// ---------------------------------------------------------------------------------------------
// Result checks (client side): each returns undefined when the value has the documented shape,
// else what is wrong. Extra fields are tolerated (a newer daemon may add some).

const MODES: ReadonlySet<string> = new Set<Mode>(["tcp", "udp", "stcp", "sudp", "atcp", "audp"]);
const COUNTER_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
const MAX_COUNTERS = 256;
const MAX_TEXT_CHARS = 4096;

const RESULT_CHECKS: { readonly [C in ControlCommandName]: (v: unknown) => string | undefined } = {
  status: checkStatus,
  blocked: (v) => checkArray(v, checkBlockedEntry),
  unblock: (v) => checkArray(v, checkAddressResult),
  block: (v) => checkArray(v, checkAddressResult),
  metrics: (v) => (typeof v === "string" ? undefined : "not a string"),
};

function checkStatus(v: unknown): string | undefined {
  if (!isRecord(v)) return "not an object";
  if (!isShortText(v.version, 64)) return "version";
  if (!isCount(v.pid)) return "pid";
  if (typeof v.startedAt !== "string" || Number.isNaN(Date.parse(v.startedAt))) return "startedAt";
  if (!isNonNegative(v.uptimeSec)) return "uptimeSec";
  if (!isShortText(v.configFile, MAX_TEXT_CHARS)) return "configFile";
  if (!Array.isArray(v.modes) || !v.modes.every(isMode)) return "modes";
  const sensors = checkArray(v.sensors, checkSensor);
  if (sensors !== undefined) return `sensors: ${sensors}`;
  if (!isCount(v.blockedHosts)) return "blockedHosts";
  const c = v.counters;
  if (!isRecord(c)) return "counters";
  const names = Object.keys(c);
  if (names.length > MAX_COUNTERS) return "too many counters";
  for (const name of names) {
    if (!COUNTER_NAME.test(name) || !isNonNegative(c[name])) return `counter ${shown(name)}`;
  }
  return undefined;
}

function checkSensor(v: unknown): string | undefined {
  if (!isRecord(v) || !isMode(v.mode)) return "mode";
  if (typeof v.armed !== "boolean") return "armed";
  if (!isCount(v.portCount)) return "portCount";
  // 65 535 single ports in the worst case: "1,3,5,..." stays below 400 000 characters.
  return isShortText(v.ports, 400_000) ? undefined : "ports";
}

function checkBlockedEntry(v: unknown): string | undefined {
  if (!isRecord(v)) return "not an object";
  if (typeof v.address !== "string" || controlAddress(v.address) !== v.address) return "address";
  if (!isMode(v.mode)) return "mode";
  if (!isCount(v.port) || v.port > 65535) return "port";
  if (!isCount(v.sinceMs)) return "sinceMs";
  return isCount(v.expiresAtMs) ? undefined : "expiresAtMs";
}

function checkAddressResult(v: unknown): string | undefined {
  if (!isRecord(v)) return "not an object";
  if (typeof v.address !== "string" || controlAddress(v.address) !== v.address) return "address";
  if (!isShortText(v.message, MAX_TEXT_CHARS)) return "message";
  if (v.ok === true) return typeof v.changed === "boolean" ? undefined : "changed";
  if (v.ok === false) return isShortText(v.code, 64) ? undefined : "code";
  return "ok";
}

function checkArray(v: unknown, each: (item: unknown) => string | undefined): string | undefined {
  if (!Array.isArray(v)) return "not an array";
  for (let i = 0; i < v.length; i++) {
    const problem = each(v[i]);
    if (problem !== undefined) return `[${i}] ${problem}`;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isRequestId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isNonNegative(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

function isShortText(v: unknown, maxChars: number): v is string {
  return typeof v === "string" && v.length <= maxChars;
}

function isMode(v: unknown): v is Mode {
  return typeof v === "string" && MODES.has(v);
}

// ---------------------------------------------------------------------------------------------
// Helpers for the daemon's handler and the docs

/** Ports as ascending runs: [1, 11, 143, 32771, 32772, 32773, 32774] → "1,11,143,32771-32774". */
export function compactPorts(ports: Iterable<number>): string {
  const sorted = [...new Set(ports)].filter((p) => Number.isInteger(p)).sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    // Runs of three or more read better as a range; a pair stays a pair.
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(",");
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
