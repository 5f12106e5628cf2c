/**
 * Which portsentry.conf keys differ between two configs, by the key table's own printing of
 * each value: what the SIGHUP notice names (the operator's words, `BLOCK_TIMEOUT`, not the
 * field behind it). Pure.
 */

import { CONFIG_KEYS } from "./keys.js";
import type { Config } from "./types.js";

/** The names of the keys whose effective values differ, in the key table's order. */
export function changedConfigKeys(a: Config, b: Config): string[] {
  return CONFIG_KEYS.filter((k) => k.show(a) !== k.show(b)).map((k) => k.key);
}
