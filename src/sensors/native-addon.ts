/**
 * Finds and loads one of our own Node-API addons (native/*.c, built by `npm run build` into
 * native/build/Release/), from dist/src/sensors/ (built) or src/sensors/ (run from source).
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function addonPath(name: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["../../..", "../.."]) {
    const candidate = resolve(here, up, `native/build/Release/${name}.node`);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Loads addon `name` and checks that it exports `functions`; throws an Error that says what to do. */
export function loadNativeAddon<T>(name: string, functions: readonly string[]): T {
  const path = addonPath(name);
  if (path === undefined) throw new Error(`native addon ${name} not built: run npm run build`);
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`native addon ${path} failed to load (${reason}): run npm run build`);
  }
  const complete =
    typeof loaded === "object" &&
    loaded !== null &&
    functions.every((f) => typeof (loaded as Record<string, unknown>)[f] === "function");
  if (!complete) throw new Error(`native addon ${path} is not ${name}: run npm run build`);
  return loaded as T;
}
