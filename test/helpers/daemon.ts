/** Starting the real daemon inside a lab namespace, with a config of the test's own. */

import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Lab, LabProcess, NsRef } from "../netns/netns.js";

/** dist/test/helpers → repository root. */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
export const MAIN_JS = join(REPO_ROOT, "dist/src/cli/main.js");
export const TCP_CLIENT_JS = join(REPO_ROOT, "dist/test/helpers/tcp-client.js");
export const READY = "PortSentry is now active and listening.";

/** The node flags the installed command starts with (MAIN_JS's `#!/usr/bin/env -S node ...`). */
export function installedNodeArgs(): string[] {
  const first = readFileSync(MAIN_JS, "utf8").split("\n", 1)[0] ?? "";
  return (
    /^#!\/usr\/bin\/env -S node(.*)$/
      .exec(first)?.[1]
      ?.trim()
      .split(/\s+/)
      .filter((a) => a !== "") ?? []
  );
}

/** The daemon as the systemd unit starts it: the installed command's flags, `-atcp -audp`. */
export function shippedArgv(conf: string): string[] {
  return ["node", ...installedNodeArgs(), MAIN_JS, "-c", conf, "-atcp", "-audp"];
}

export interface DaemonFiles {
  readonly dir: string;
  readonly conf: string;
  readonly ignore: string;
  readonly history: string;
  readonly blocked: string;
  readonly hostsDeny: string;
  readonly events: string;
  remove(): Promise<void>;
}

/**
 * Writes a config whose files all live in a fresh temp directory. `keys` are added as
 * KEY="value" lines after the defaults (a key given twice is an error, so defaults are skipped).
 */
export async function writeDaemonFiles(
  keys: Readonly<Record<string, string>>,
  ignoreLines: readonly string[] = [],
): Promise<DaemonFiles> {
  const dir = await mkdtemp(join(tmpdir(), "ps-daemon-"));
  const files = {
    dir,
    conf: join(dir, "portsentry.conf"),
    ignore: join(dir, "portsentry.ignore"),
    history: join(dir, "portsentry.history"),
    blocked: join(dir, "portsentry.blocked"),
    hostsDeny: join(dir, "hosts.deny"),
    events: join(dir, "events.jsonl"),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  const defaults: Record<string, string> = {
    IGNORE_FILE: files.ignore,
    HISTORY_FILE: files.history,
    BLOCKED_FILE: files.blocked,
    STATE_DIR: join(dir, "state"),
    WRAPPER_HOSTS_DENY: files.hostsDeny,
    RESOLVE_HOST: "0",
    SYSLOG_SOCKET: join(dir, "no-syslog.sock"),
  };
  const all = { ...defaults, ...keys };
  await writeFile(
    files.conf,
    `${Object.entries(all)
      .map(([k, v]) => `${k}="${v}"`)
      .join("\n")}\n`,
  );
  await writeFile(files.ignore, `${["127.0.0.1/32", "::1", ...ignoreLines].join("\n")}\n`);
  return files;
}

/** Spawns `portsentry -c CONF MODES...` in `where` and waits for the readiness line. */
export async function startDaemon(
  lab: Lab,
  where: NsRef,
  conf: string,
  modes: readonly string[],
  timeoutMs = 15_000,
): Promise<LabProcess> {
  const proc = lab.spawn(where, ["node", MAIN_JS, "-c", conf, ...modes]);
  await lab.waitForOutput(proc, READY, timeoutMs);
  return proc;
}

/** A real TCP service ("hello\n" to every client) on `port`, IPv4 and IPv6, in `where`. */
export async function startService(lab: Lab, where: NsRef, port: number): Promise<LabProcess> {
  const js = `require("net").createServer((c) => c.end("hello\\n")).listen({ port: ${port}, host: "::" }, () => console.log("LISTENING"));`;
  const service = lab.spawn(where, ["node", "-e", js]);
  await lab.waitForOutput(service, "LISTENING", 10_000);
  return service;
}
