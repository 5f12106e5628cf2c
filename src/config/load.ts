/**
 * Loading portsentry.conf and the ignore file from disk, and printing the effective config
 * (`portsentry check-config`). File reading refuses FIFOs, devices, huge and world-writable
 * files (read-file.ts); parsing is pure (parse-conf.ts, ignore.ts).
 */

import { dirname, resolve } from "node:path";
import { StartError } from "../start-error.js";
import { type IgnoreList, parseIgnoreList } from "./ignore.js";
import { CONFIG_KEYS } from "./keys.js";
import { parseConfig } from "./parse-conf.js";
import { readConfigText } from "./read-file.js";
import { type Config, formatConfigError, type ParseResult } from "./types.js";

/** A config is a page of text; 1 MiB leaves room for very long port lists and comments. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** Room for MAX_IGNORE_ENTRIES IPv6 networks with comments. */
export const MAX_IGNORE_BYTES = 64 << 20;

/**
 * Reads and parses `path`. Relative paths inside resolve against the config file's directory
 * (made absolute here, so the Config holds absolute paths). Messages name `path` as given.
 */
export async function loadConfig(path: string): Promise<ParseResult<Config>> {
  const read = await readConfigText(path, {
    maxBytes: MAX_CONFIG_BYTES,
    missingHint: "create it (see etc/portsentry.conf) or name another file with -c FILE",
    writableRisk: "anyone could make portsentry run commands as root",
  });
  if (!read.ok) return { ok: false, errors: [read.error] };
  return parseConfig(read.text, path, { baseDir: dirname(resolve(path)) });
}

/**
 * Reads and parses an ignore file. A missing file is an error here; whether the daemon runs on
 * without one is its decision. Loopback and the host's own addresses are not added here: the
 * caller adds them (IgnoreList.addLoopback, IgnoreList.add).
 */
export async function loadIgnoreFile(path: string): Promise<ParseResult<IgnoreList>> {
  const read = await readConfigText(path, {
    maxBytes: MAX_IGNORE_BYTES,
    missingHint: "create it (it may be empty; see etc/portsentry.ignore) or set IGNORE_FILE",
    writableRisk: "anyone could exempt any host from detection",
  });
  if (!read.ok) return { ok: false, errors: [read.error] };
  return parseIgnoreList(read.text, path);
}

/**
 * The effective config as `KEY="value"` lines, one per known key in table order, defaults
 * included; an unset optional key prints as `KEY=""`. Parsing the output gives the same Config.
 */
export function formatEffectiveConfig(config: Config): string {
  return CONFIG_KEYS.map((spec) => `${spec.key}="${spec.show(config)}"\n`).join("");
}

/**
 * The config and the ignore file (loopback added, prepared for matching), or a StartError
 * (exit 2) with every error at once, each with file and line.
 */
export async function loadConfigOrThrow(path: string): Promise<{ config: Config; ignore: IgnoreList }> {
  const parsed = await loadConfig(path);
  if (!parsed.ok) throw new StartError(parsed.errors.map(formatConfigError).join("\n"), 2);
  const ignore = await loadIgnoreFile(parsed.value.ignoreFile);
  if (!ignore.ok) throw new StartError(ignore.errors.map(formatConfigError).join("\n"), 2);
  ignore.value.addLoopback();
  ignore.value.prepare();
  return { config: parsed.value, ignore: ignore.value };
}
