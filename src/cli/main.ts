#!/usr/bin/env node
/** The `portsentry` command: the only place that exits (house style). */

import { formatEffectiveConfig } from "../config/load.js";
import { loadConfigOrThrow, StartError, startDaemon } from "../daemon.js";
import { VERSION } from "../version.js";
import { type Command, parseArgs, usage } from "./args.js";
import { runControlCommand } from "./control-commands.js";

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`portsentry: ${parsed.error}\n${usage()}\n`);
    return EXIT_USAGE;
  }
  return execute(parsed.command);
}

async function execute(command: Command): Promise<number> {
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
      if (command.daemonize) {
        process.stderr.write("portsentry: --daemon is not available yet; run it under systemd or with &\n");
        return EXIT_USAGE;
      }
      const daemon = await startDaemon(command);
      await daemon.stopped;
      return EXIT_OK;
    }
    case "status":
    case "blocked":
    case "unblock":
    case "block":
    case "metrics":
      return runControlCommand(command);
    default:
      process.stderr.write(`portsentry: ${command.kind} is not available in this version\n`);
      return EXIT_FAILURE;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof StartError) {
      process.stderr.write(`portsentry: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(
      `portsentry: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = EXIT_FAILURE;
  },
);
