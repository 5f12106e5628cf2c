/**
 * Parsers for single config values. Pure. Each returns a result with a message that reads well
 * after "FILE:LINE: KEY: ", e.g. "70000 is not a port (1-65535)".
 */

import { formatIp, parseIp } from "../decode/address.js";
import { quoteForMessage } from "./lines.js";
import { closest } from "./suggest.js";
import type { ListenAddress } from "./types.js";

export type ValueResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): ValueResult<T> => ({ ok: true, value });
const fail = <T>(message: string): ValueResult<T> => ({ ok: false, message });

const DIGITS = /^[0-9]+$/;
/** More digits than this cannot be a value we accept; refusing early keeps Number() exact. */
const MAX_DIGITS = 12;

/** Decimal digits → number; absurdly long ones → Infinity (so range checks refuse them). */
function toNumber(digits: string): number {
  const significant = digits.replace(/^0+(?=[0-9])/, "");
  return significant.length > MAX_DIGITS ? Number.POSITIVE_INFINITY : Number(significant);
}

/** A short rendering of an untrusted token for a message: bare when plain, else quoted. */
function show(token: string): string {
  return /^[\x21-\x7e]{1,24}$/.test(token) ? token : quoteForMessage(token, 24);
}

export function parseInteger(text: string, min: number, max: number, what = "a number"): ValueResult<number> {
  const t = text.trim();
  if (t === "") return fail(`empty value; expected ${what} (${min}-${max})`);
  if (!DIGITS.test(t)) return fail(`${show(t)} is not ${what} (${min}-${max}, decimal digits only)`);
  const n = toNumber(t);
  if (n < min || n > max) return fail(`${show(t)} is out of range (${min}-${max})`);
  return ok(n);
}

export function parseFlag(text: string): ValueResult<boolean> {
  const t = text.trim();
  if (t === "1") return ok(true);
  if (t === "0") return ok(false);
  return fail(`${show(t)} is not "0" or "1"`);
}

export function parseChoice<T extends string>(text: string, choices: readonly T[]): ValueResult<T> {
  const t = text.trim();
  const found = choices.find((c) => c === t);
  if (found !== undefined) return ok(found);
  const near = closest(t, choices);
  const hint = near !== undefined ? `; did you mean ${near}?` : "";
  return fail(`${show(t)} is not one of ${choices.join(", ")}${hint}`);
}

/**
 * A comma-separated list of ports and `a-b` ranges (a <= b), spaces around items tolerated.
 * Result sorted, duplicates removed. "" is the empty list.
 */
export function parsePortList(text: string): ValueResult<readonly number[]> {
  const t = text.trim();
  if (t === "") return ok(Object.freeze([]));
  const seen = new Uint8Array(65_536);
  const items = t.split(",");
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!.trim();
    if (item === "") {
      return fail(`empty entry at position ${i + 1} (two commas in a row, or a comma at an end)`);
    }
    const dash = item.indexOf("-");
    if (dash < 0) {
      const p = parsePortNumber(item);
      if (!p.ok) return p;
      seen[p.value] = 1;
      continue;
    }
    const lo = parsePortNumber(item.slice(0, dash).trim());
    if (!lo.ok) return fail(`${show(item)}: ${lo.message}`);
    const hi = parsePortNumber(item.slice(dash + 1).trim());
    if (!hi.ok) return fail(`${show(item)}: ${hi.message}`);
    if (lo.value > hi.value)
      return fail(`${show(item)} is not a range (the first port must be <= the second)`);
    seen.fill(1, lo.value, hi.value + 1);
  }
  const ports: number[] = [];
  for (let p = 1; p < 65_536; p++) if (seen[p] === 1) ports.push(p);
  return ok(Object.freeze(ports));
}

function parsePortNumber(token: string): ValueResult<number> {
  if (token === "") return fail("missing port number");
  if (!DIGITS.test(token)) return fail(`${show(token)} is not a port (1-65535)`);
  const n = toNumber(token);
  if (n < 1 || n > 65_535) return fail(`${show(token)} is not a port (1-65535)`);
  return ok(n);
}

/** Renders a sorted port list, runs of three or more as ranges: "1,7,9,32770-32774". */
export function formatPortList(ports: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${ports[i]}-${ports[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(ports[k]));
    i = j + 1;
  }
  return parts.join(",");
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
/** Ten years. Longer is "forever" in practice, and 0 says that explicitly. */
export const MAX_DURATION_SEC = 3650 * 86_400;

/** Seconds, or a number with one unit: `45s`, `30m`, `12h`, `7d`. */
export function parseDuration(text: string): ValueResult<number> {
  const t = text.trim();
  const m = /^([0-9]{1,12})([a-zA-Z]?)$/.exec(t);
  if (!m)
    return fail(`${show(t)} is not a duration (seconds, or a number followed by s, m, h or d: 30m, 12h, 7d)`);
  const unit = m[2]!;
  if (unit !== "" && !(unit in UNIT_SECONDS)) {
    return fail(`${show(t)}: unknown unit "${unit}" (use s, m, h or d, lower case)`);
  }
  const factor = unit === "" ? 1 : UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  const seconds = Number(m[1]) * factor;
  if (seconds > MAX_DURATION_SEC) return fail(`${show(t)} is longer than 3650d; use "0" for forever`);
  return ok(seconds);
}

/** The shortest exact spelling: 86400 → "1d", 90 → "90", 0 → "0". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0";
  for (const [unit, factor] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds % factor === 0) return `${seconds / factor}${unit}`;
  }
  return String(seconds);
}

/** The macros a command template may use (spec §6). */
export const MACROS = ["$TARGET$", "$PORT$", "$MODE$"] as const;

/**
 * A command or hosts.deny template. "" means "not set". `requireTarget`: the template must
 * contain $TARGET$ (KILL_ROUTE, KILL_HOSTS_DENY). A `$WORD$` that is not a known macro is an
 * error: it is almost always a typo that would reach a command line verbatim.
 */
export function parseTemplate(text: string, requireTarget: boolean): ValueResult<string | undefined> {
  const t = text.trim();
  if (t === "") return ok(undefined);
  for (const m of t.matchAll(/\$([A-Za-z_]+)\$/g)) {
    const macro = m[0];
    if (!(MACROS as readonly string[]).includes(macro)) {
      const near = closest(macro, MACROS);
      const hint = near !== undefined ? `; did you mean ${near}?` : ` (known: ${MACROS.join(", ")})`;
      return fail(`unknown macro ${show(macro)}${hint}`);
    }
  }
  if (requireTarget && !t.includes("$TARGET$")) {
    return fail("must contain $TARGET$ (the attacker's address is substituted there)");
  }
  return ok(t);
}

/**
 * A path. Relative paths are resolved against `baseDir` (the config file's directory), so the
 * bundled etc/portsentry.conf works from a checkout. Pure string work (POSIX paths).
 */
export function parsePath(text: string, baseDir: string): ValueResult<string> {
  const t = text.trim();
  if (t === "") return fail("empty path");
  return ok(normalizePath(t.startsWith("/") ? t : `${baseDir}/${t}`));
}

/** POSIX normalisation: collapses "//", "." and ".."; keeps a leading "/" or "./"-less relative form. */
export function normalizePath(p: string): string {
  const absolute = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (absolute) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/**
 * `ADDRESS:PORT` for a listening socket: an IPv4 literal, or an IPv6 literal in brackets
 * (`[::1]:9871`). Names are refused: what a name resolves to can change under us.
 */
export function parseListenAddress(text: string): ValueResult<ListenAddress> {
  const t = text.trim();
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]+)$/.exec(t);
  if (m === null) return fail(`${show(t)} is not ADDRESS:PORT (e.g. 127.0.0.1:9871 or [::1]:9871)`);
  const ip = parseIp(m[1] ?? m[2] ?? "");
  if (ip === undefined || (m[1] !== undefined) !== (ip.family === 6)) {
    return fail(`${show(m[1] ?? m[2] ?? "")} is not an IP address (IPv6 goes in brackets)`);
  }
  const port = parseInteger(m[3] ?? "", 1, 65_535, "a port");
  if (!port.ok) return port;
  const loopback = ip.family === 4 ? ip.bytes[0] === 127 : ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
  return ok({ host: formatIp(ip), port: port.value, loopback });
}

export function formatListenAddress(v: ListenAddress | undefined): string {
  if (v === undefined) return "";
  return v.host.includes(":") ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`;
}
