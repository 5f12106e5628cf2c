/**
 * A fleet event, as it travels in the Redis stream: flat field/value pairs. Pure. Whatever comes
 * from Redis is hostile input: decoding returns a reason, never throws (a member, or whoever
 * holds its credentials, can write anything there).
 */

import { canonicalIp, parseIp } from "../decode/address.js";
import type { Mode } from "../vocabulary.js";

export type FleetEventKind = "block" | "unblock";

export interface FleetEvent {
  readonly kind: FleetEventKind;
  /** The member that blocked first (or "fleet" for the fleet-wide trigger). */
  readonly origin: string;
  readonly address: string;
  readonly mode: Mode;
  readonly port: number;
  readonly classification: string;
  /** Wall-clock milliseconds. */
  readonly sinceMs: number;
  /** Wall-clock milliseconds; 0 = never. */
  readonly expiresAtMs: number;
}

export type DecodedEvent =
  | { readonly ok: true; readonly event: FleetEvent }
  | { readonly ok: false; readonly reason: string };

export interface EventLimits {
  readonly maxEventBytes: number;
  readonly maxEventFields: number;
}

const MODES: ReadonlySet<string> = new Set(["tcp", "udp", "stcp", "sudp", "atcp", "audp"]);
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Milliseconds since 1970 up to the year 2286: beyond is not a time we wrote. */
const MAX_TIME_MS = 10_000_000_000_000;

/** Field/value pairs in a fixed order (XADD's argument list). */
export function encodeEvent(e: FleetEvent): string[] {
  return [
    "v",
    "1",
    "k",
    e.kind,
    "o",
    e.origin,
    "a",
    e.address,
    "m",
    e.mode,
    "p",
    String(e.port),
    "c",
    e.classification.slice(0, 64),
    "s",
    String(e.sinceMs),
    "e",
    String(e.expiresAtMs),
  ];
}

/** Field/value pairs as XREAD returns them → an event, or why not. */
export function decodeEvent(fields: readonly unknown[], limits: EventLimits): DecodedEvent {
  if (fields.length > limits.maxEventFields * 2 || fields.length % 2 !== 0) {
    return { ok: false, reason: "field count" };
  }
  let bytes = 0;
  const f = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i];
    const v = fields[i + 1];
    if (typeof k !== "string" || typeof v !== "string") return { ok: false, reason: "not text" };
    bytes += k.length + v.length;
    if (bytes > limits.maxEventBytes) return { ok: false, reason: "oversized" };
    f.set(k, v);
  }
  if (f.get("v") !== "1") return { ok: false, reason: "version" };
  const kind = f.get("k");
  if (kind !== "block" && kind !== "unblock") return { ok: false, reason: "kind" };
  const origin = f.get("o") ?? "";
  if (!NAME.test(origin)) return { ok: false, reason: "origin" };
  const text = f.get("a") ?? "";
  const ip = parseIp(text);
  const address = ip && canonicalIp(text);
  if (address === undefined || address !== text) return { ok: false, reason: "address" };
  const mode = f.get("m") ?? "";
  if (!MODES.has(mode)) return { ok: false, reason: "mode" };
  const port = wholeNumber(f.get("p"), 65_535);
  const sinceMs = wholeNumber(f.get("s"), MAX_TIME_MS);
  const expiresAtMs = wholeNumber(f.get("e"), MAX_TIME_MS);
  if (port === undefined) return { ok: false, reason: "port" };
  if (sinceMs === undefined || expiresAtMs === undefined) return { ok: false, reason: "time" };
  if (expiresAtMs !== 0 && expiresAtMs < sinceMs) return { ok: false, reason: "time" };
  const classification = (f.get("c") ?? "").replace(/[^\x20-\x7e]/g, "?").slice(0, 64);
  return {
    ok: true,
    event: { kind, origin, address, mode: mode as Mode, port, classification, sinceMs, expiresAtMs },
  };
}

function wholeNumber(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^[0-9]{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** A member's name as it appears in events: the host name, cut to what an event carries. */
export function memberName(hostname: string): string {
  const cleaned = hostname.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  return cleaned === "" ? "member" : cleaned;
}
