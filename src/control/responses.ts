/**
 * What comes back over the control socket (see protocol.ts for the wire format): the result
 * type of each command, the response lines the server writes, and the client's check of a
 * response line, its envelope and its result. Pure: no I/O.
 */

import type { Mode } from "../vocabulary.js";
import {
  type ControlCommandName,
  type ControlError,
  controlAddress,
  isRecord,
  PROTOCOL_VERSION,
  shown,
} from "./protocol.js";

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
  /** FLEET_URL set: the fleet link. */
  readonly fleet?: FleetStatus;
}

export interface BlockedEntry {
  readonly address: string;
  readonly mode: Mode;
  readonly port: number;
  /** Wall-clock milliseconds. */
  readonly sinceMs: number;
  /** Wall-clock milliseconds; 0 = never. */
  readonly expiresAtMs: number;
  /** FLEET_URL: the member that blocked first, for a block received from the fleet. */
  readonly origin?: string;
  /** PROBATION_TIMEOUT: a short, firewall-only ban of a source's first probe. */
  readonly probation?: boolean;
}

/** FLEET_URL: the member's link to the fleet. */
export interface FleetStatus {
  readonly name: string;
  readonly member: string;
  readonly connected: boolean;
  /** The last error seen on the link ("" = none). */
  readonly lastError: string;
  /** Wall-clock lag of the last event applied (now − its start). */
  readonly lagMs: number;
  readonly eventsIn: number;
  readonly eventsOut: number;
  readonly malformed: number;
  readonly refused: number;
  /** Local events not yet acknowledged by Redis. */
  readonly outbox: number;
  readonly membersSeen: number;
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
  readonly "unblock-fleet": readonly AddressResult[];
  readonly block: readonly AddressResult[];
  readonly metrics: string;
}

// ---------------------------------------------------------------------------------------------
// Response lines

/**
 * Every response line's wire shape, for clients other than ours (ours reads it field by field).
 * @public
 */
export type ControlResponse =
  | { readonly v: 1; readonly id: number | null; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly id: number | null; readonly ok: false; readonly error: ControlError };

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
  "unblock-fleet": (v) => checkArray(v, checkAddressResult),
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
  return v.fleet === undefined ? undefined : checkFleet(v.fleet);
}

function checkFleet(f: unknown): string | undefined {
  if (!isRecord(f)) return "fleet";
  if (!isShortText(f.name, 64) || !isShortText(f.member, 64)) return "fleet name";
  if (typeof f.connected !== "boolean") return "fleet connected";
  if (!isShortText(f.lastError, MAX_TEXT_CHARS)) return "fleet lastError";
  for (const k of ["lagMs", "eventsIn", "eventsOut", "malformed", "refused", "outbox", "membersSeen"]) {
    if (!isNonNegative(f[k])) return `fleet ${k}`;
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
  if (v.origin !== undefined && !isShortText(v.origin, 64)) return "origin";
  if (v.probation !== undefined && v.probation !== true) return "probation";
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
// A sensor's ports in the status report (SensorStatus.ports)

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
