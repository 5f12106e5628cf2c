/**
 * portsentry.conf → Config (spec §2). Pure: no file system, no clock.
 *
 * Syntax (1.2's): `KEY="value"` lines, `#` comment lines, blank lines, spaces around `=`, the
 * value between the first pair of double quotes, CRLF tolerated. Stricter than 1.2 (which
 * skipped what it did not understand): every problem is reported, all at once, as
 * `FILE:LINE: KEY: message`. Decisions (see docs/configuration.md): a key set twice is an
 * error; relative paths are resolved against the config file's directory; an absent key takes
 * the `absent` value of CONFIG_KEYS; after the closing quote only whitespace or a `#` comment
 * may follow.
 */

import {
  CONFIG_KEY_NAMES,
  CONFIG_KEYS,
  type ConfigDraft,
  type ConfigKeySpec,
  configKey,
  type KeyContext,
} from "./keys.js";
import { badCharacters, ErrorList, quoteForMessage, splitLines, tooLongMessage } from "./lines.js";
import { closest } from "./suggest.js";
import type { Config, ParseResult } from "./types.js";
import { normalizePath } from "./values.js";

export interface ParseConfigOptions {
  /** Directory that relative paths resolve against; default: the directory part of `file`. */
  readonly baseDir?: string;
}

const KEY_LINE = /^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/s;
const KEY_ONLY = /^([A-Za-z_][A-Za-z0-9_]*)/;

/** Every Config field at its absent-key value (the table's `absent` column). */
const ABSENT: Readonly<ConfigDraft> = Object.freeze(buildAbsent());

function buildAbsent(): ConfigDraft {
  // Every field is assigned below: each Config field has exactly one row (tested).
  const draft = {} as ConfigDraft;
  for (const spec of CONFIG_KEYS) {
    const message = spec.apply(draft, spec.absent, { baseDir: "/" });
    if (message !== undefined) throw new Error(`bug: absent value of ${spec.key} does not parse: ${message}`);
  }
  return draft;
}

export function parseConfig(
  text: string,
  file: string,
  options: ParseConfigOptions = {},
): ParseResult<Config> {
  const ctx: KeyContext = { baseDir: options.baseDir ?? dirnameOf(file) };
  const errors = new ErrorList(file);
  const draft: ConfigDraft = { ...ABSENT };
  const lineOfKey = new Map<string, number>();

  for (const line of splitLines(text)) {
    if (line.tooLong) {
      errors.add(line.number, undefined, tooLongMessage(line));
      continue;
    }
    const trimmed = line.text.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      const bad = badCharacters(line.text, "nul");
      if (bad !== undefined) errors.add(line.number, undefined, bad);
      continue;
    }
    const bad = badCharacters(line.text, "all");
    if (bad !== undefined) {
      const key = KEY_ONLY.exec(trimmed)?.[1];
      errors.add(line.number, key === undefined ? undefined : shorten(key), bad);
      continue;
    }
    const setting = splitSetting(trimmed);
    if (!setting.ok) {
      errors.add(line.number, setting.key === undefined ? undefined : shorten(setting.key), setting.message);
      continue;
    }
    const { spec, value } = setting;
    const key = spec.key;
    const firstLine = lineOfKey.get(key);
    if (firstLine !== undefined) {
      errors.add(line.number, key, `set again (first set on line ${firstLine}); keep one of the two`);
      continue;
    }
    lineOfKey.set(key, line.number);
    const message = spec.apply(draft, value, ctx);
    if (message !== undefined) errors.add(line.number, key, message);
  }

  // Checks across keys: each reported at the line of the key that asks for the impossible.
  if (draft.kernelTrap && draft.killFirewall !== "nftables") {
    errors.add(
      lineOfKey.get("KERNEL_TRAP") ?? 0,
      "KERNEL_TRAP",
      `"1" needs KILL_FIREWALL="nftables" (it is "${draft.killFirewall}"); set KERNEL_TRAP="0" or use nftables`,
    );
  }

  if (draft.metricsListen !== undefined && !draft.metricsListen.loopback && !draft.metricsListenPublic) {
    errors.add(
      lineOfKey.get("METRICS_LISTEN") ?? 0,
      "METRICS_LISTEN",
      `${draft.metricsListen.host} is not a loopback address: anyone who reaches it reads the counters; set METRICS_LISTEN_PUBLIC="1" to allow it`,
    );
  }

  // Fleet keys: each only means something with FLEET_URL (and TLS files with rediss://).
  const fleetFiles: readonly [string, string | undefined][] = [
    ["FLEET_PASSWORD_FILE", draft.fleetPasswordFile],
    ["FLEET_TLS_CA", draft.fleetTlsCa],
    ["FLEET_TLS_CERT", draft.fleetTlsCert],
    ["FLEET_TLS_KEY", draft.fleetTlsKey],
  ];
  for (const [key, value] of fleetFiles) {
    if (value === undefined) continue;
    if (draft.fleetUrl === undefined) {
      errors.add(lineOfKey.get(key) ?? 0, key, "has no effect without FLEET_URL; set FLEET_URL or remove it");
    } else if (key.startsWith("FLEET_TLS_") && !draft.fleetUrl.tls) {
      errors.add(lineOfKey.get(key) ?? 0, key, "needs a rediss:// FLEET_URL (TLS)");
    }
  }
  if ((draft.fleetTlsCert === undefined) !== (draft.fleetTlsKey === undefined)) {
    const key = draft.fleetTlsCert === undefined ? "FLEET_TLS_KEY" : "FLEET_TLS_CERT";
    errors.add(lineOfKey.get(key) ?? 0, key, "FLEET_TLS_CERT and FLEET_TLS_KEY go together");
  }

  if (errors.count > 0) return { ok: false, errors: errors.list() };
  return { ok: true, value: Object.freeze({ file, ...draft }) };
}

type Setting =
  | { readonly ok: true; readonly spec: ConfigKeySpec; readonly value: string }
  | { readonly ok: false; readonly key: string | undefined; readonly message: string };

/** `KEY = "value"  # comment` → key and value, or what is wrong with the line. */
function splitSetting(trimmed: string): Setting {
  const m = KEY_LINE.exec(trimmed);
  if (!m) {
    const key = KEY_ONLY.exec(trimmed)?.[1];
    if (key !== undefined && configKey(key) !== undefined) {
      return { ok: false, key, message: `missing "=" after the key; write ${key}="value"` };
    }
    return {
      ok: false,
      key: undefined,
      message: `not a setting: ${quoteForMessage(trimmed)}; expected KEY="value" or a # comment`,
    };
  }
  const key = m[1]!;
  const rest = m[2]!;
  // An unknown key is the more useful report, whatever its value looks like.
  const spec = configKey(key);
  if (spec === undefined) return { ok: false, key, message: unknownKeyMessage(key) };
  if (!rest.startsWith('"')) {
    const hint = rest === "" ? `${key}=""` : `${key}="${rest.replace(/"/g, "").slice(0, 40)}"`;
    return { ok: false, key, message: `the value must be in double quotes: ${hint}` };
  }
  const close = rest.indexOf('"', 1);
  if (close < 0) return { ok: false, key, message: "missing closing double quote" };
  const after = rest.slice(close + 1).trim();
  if (after !== "" && !after.startsWith("#")) {
    const hint = after.includes('"') ? "a value cannot contain '\"'" : "a comment starts with #";
    return {
      ok: false,
      key,
      message: `unexpected text after the closing quote: ${quoteForMessage(after)} (${hint})`,
    };
  }
  return { ok: true, spec, value: rest.slice(1, close) };
}

/** The key itself is in the error's `key` field; the message says what to do. */
function unknownKeyMessage(key: string): string {
  const near = closest(key, CONFIG_KEY_NAMES);
  if (near === undefined) return "unknown key; see docs/configuration.md for the keys";
  const caseOnly = near.toUpperCase() === key.toUpperCase();
  return `unknown key; did you mean ${near}?${caseOnly ? " (keys are upper case)" : ""}`;
}

function shorten(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}

function dirnameOf(file: string): string {
  const slash = file.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  return normalizePath(file.slice(0, slash));
}
