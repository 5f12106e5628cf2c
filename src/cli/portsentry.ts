/** The `portsentry` command, run by main.ts: the only place that exits (house style). */

import { spawn } from "node:child_process";
import { formatEffectiveConfig, loadConfigOrThrow } from "../config/load.js";
import { startDaemon } from "../daemon/start.js";
import type { SignalInbox } from "../signals.js";
import { StartError } from "../start-error.js";
import { VERSION } from "../version.js";
import { type Command, parseArgs, usage } from "./args.js";

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** Set in the environment of the copy that --daemon starts. */
const DETACHED_ENV = "PORTSENTRY_DETACHED";

async function run(argv: readonly string[], signals: SignalInbox | undefined): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`portsentry: ${parsed.error}\n${usage()}\n`);
    return EXIT_USAGE;
  }
  if (parsed.command.kind !== "run" || (parsed.command.daemonize && process.env[DETACHED_ENV] !== "1")) {
    // Only a running daemon keeps the signals; a detaching parent dies by them as usual.
    signals?.close();
    return execute(parsed.command, undefined);
  }
  return execute(parsed.command, signals);
}

async function execute(command: Command, signals: SignalInbox | undefined): Promise<number> {
  switch (command.kind) {
    case "help":
      process.stdout.write(`${usage()}\n`);
      return EXIT_OK;
    case "version":
      process.stdout.write(`portsentry ${VERSION}\n`);
      return EXIT_OK;
    case "check-config": {
      const { config, ignore } = await loadConfigOrThrow(command.configPath);
      process.stdout.write(formatEffectiveConfig(config));
      process.stdout.write(`# ${config.ignoreFile}: ${ignore.size} entries\n`);
      return EXIT_OK;
    }
    case "run": {
      if (command.daemonize && process.env[DETACHED_ENV] !== "1") return detach();
      const daemon = await startDaemon(command, signals);
      if (process.env[DETACHED_ENV] === "1") {
        // Tell the waiting parent we are armed, then let go of its pipe.
        process.stdout.write("armed\n");
        process.stdout.destroy();
      }
      await daemon.stopped;
      return EXIT_OK;
    }
    // The other commands' code is loaded only when one runs: the daemon does not carry it.
    case "replay":
      return (await import("./replay.js")).runReplay(command);
    case "flush":
      return (await import("./flush.js")).runFlush(command);
    case "status":
    case "blocked":
    case "unblock":
    case "unblock-fleet":
    case "block":
    case "metrics":
      return (await import("./control-commands.js")).runControlCommand(command);
  }
}

/**
 * --daemon: start a copy of ourselves in a new session with no terminal, wait until it is
 * armed (or has failed), print its pid and return. Node cannot fork, so the copy is spawned.
 */
function detach(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, [DETACHED_ENV]: "1" },
  });
  return new Promise((resolve) => {
    let output = "";
    let armed = false;
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (!armed && output.includes("armed")) {
        armed = true;
        process.stdout.write(`portsentry: running in the background, pid ${child.pid}\n`);
        child.unref();
        child.stdout?.destroy();
        resolve(EXIT_OK);
      }
    });
    child.on("exit", (code) => {
      if (armed) return;
      process.stderr.write(`portsentry: failed to start (exit ${code}); see syslog\n`);
      resolve(code === EXIT_USAGE ? EXIT_USAGE : EXIT_FAILURE);
    });
  });
}

/**
 * Runs the command and ends the process with its status. A daemon that failed to start, or
 * stopped, exits even if something it opened still holds the event loop: systemd must see
 * the exit, not a process that watches nothing.
 */
export async function main(argv: readonly string[], signals: SignalInbox | undefined): Promise<void> {
  let code: number;
  try {
    code = await run(argv, signals);
  } catch (err) {
    if (err instanceof StartError) {
      process.stderr.write(`portsentry: ${err.message}\n`);
      code = err.exitCode;
    } else {
      process.stderr.write(
        `portsentry: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      code = EXIT_FAILURE;
    }
  }
  if (signals !== undefined) process.exit(code);
  process.exitCode = code;
}
