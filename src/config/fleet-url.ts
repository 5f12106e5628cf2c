/**
 * FLEET_URL: `redis://HOST:PORT/DB` or `rediss://…` (TLS). Pure. Credentials in the URL are
 * refused: the password lives in FLEET_PASSWORD_FILE, never in the config or the logs.
 */

import type { FleetUrl } from "./types.js";
import type { ValueResult } from "./values.js";

const URL_SHAPE =
  /^(rediss?):\/\/(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::([0-9]{1,5}))?(?:\/([0-9]{1,2}))?\/?$/;

export function parseFleetUrl(text: string): ValueResult<FleetUrl | undefined> {
  const t = text.trim();
  if (t === "") return { ok: true, value: undefined };
  if (/^rediss?:\/\/[^/]*@/.test(t)) {
    return {
      ok: false,
      message:
        "credentials in the URL would sit in the config and the logs; set FLEET_USER and FLEET_PASSWORD_FILE",
    };
  }
  const m = URL_SHAPE.exec(t);
  if (m === null) {
    return {
      ok: false,
      message: `${JSON.stringify(t.slice(0, 64))} is not redis://HOST[:PORT][/DB] or rediss://… (IPv6 in brackets)`,
    };
  }
  const port = m[4] === undefined ? 6379 : Number(m[4]);
  if (port < 1 || port > 65_535) return { ok: false, message: `${m[4]} is not a port (1-65535)` };
  const db = m[5] === undefined ? 0 : Number(m[5]);
  if (db > 15) return { ok: false, message: `database ${db} is out of range (0-15)` };
  return { ok: true, value: { tls: m[1] === "rediss", host: m[2] ?? m[3] ?? "", port, db } };
}

export function formatFleetUrl(v: FleetUrl | undefined): string {
  if (v === undefined) return "";
  const host = v.host.includes(":") ? `[${v.host}]` : v.host;
  return `${v.tls ? "rediss" : "redis"}://${host}:${v.port}/${v.db}`;
}

/** FLEET_NAME: the key prefix `{NAME}:`; letters, digits, `.`, `_`, `-` (no braces: the hash tag). */
export function parseFleetName(text: string): ValueResult<string> {
  const t = text.trim();
  if (/^[A-Za-z0-9._-]{1,64}$/.test(t)) return { ok: true, value: t };
  return {
    ok: false,
    message: `${JSON.stringify(t.slice(0, 24))} is not a fleet name (1-64 of A-Z a-z 0-9 . _ -)`,
  };
}

/** FLEET_USER, FLEET_MEMBER: a name ("" = not set: the default user, the host name). */
export function parseFleetUser(text: string): ValueResult<string | undefined> {
  const t = text.trim();
  if (t === "") return { ok: true, value: undefined };
  if (/^[A-Za-z0-9._-]{1,64}$/.test(t)) return { ok: true, value: t };
  return {
    ok: false,
    message: `${JSON.stringify(t.slice(0, 24))} is not a name (1-64 of A-Z a-z 0-9 . _ -)`,
  };
}
