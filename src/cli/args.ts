/** Command-line parsing (spec §1). Pure: argv in, a command or a usage error out. */

import {
  type AddressControlCommand,
  argCountText,
  CONTROL_COMMANDS,
  controlCommand,
  type PlainControlCommand,
} from "../control/protocol.js";
import { canonicalIp } from "../decode/address.js";
import type { Mode } from "../vocabulary.js";
import { MODE_FLAGS } from "./mode-flags.js";

export const DEFAULT_CONFIG_PATH = "/etc/portsentry/portsentry.conf";

const TCP_MODES: readonly Mode[] = ["tcp", "stcp", "atcp"];

export interface RunOptions {
  readonly configPath: string;
  readonly modes: readonly Mode[];
  readonly interfaces: readonly string[];
  readonly verbose: boolean;
  readonly debug: boolean;
  readonly daemonize: boolean;
}

export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | ({ readonly kind: "run" } & RunOptions)
  | { readonly kind: "check-config"; readonly configPath: string }
  | { readonly kind: PlainControlCommand; readonly configPath: string; readonly json: boolean }
  | {
      readonly kind: AddressControlCommand;
      readonly configPath: string;
      readonly json: boolean;
      readonly addresses: readonly string[];
    }
  | {
      readonly kind: "replay";
      readonly configPath: string;
      readonly pcapFile: string;
      readonly json: boolean;
      /** Stealth/advanced modes to replay; empty: those whose ports the config lists (-stcp -sudp). */
      readonly modes: readonly Mode[];
      /** `--local ADDR` (canonical); empty: inferred from the hosts that answered probes. */
      readonly localAddresses: readonly string[];
    }
  | { readonly kind: "flush"; readonly configPath: string };

export type ParsedArgs =
  | { readonly ok: true; readonly command: Command }
  | { readonly ok: false; readonly error: string };

export interface SubcommandSpec {
  readonly name: string;
  readonly args: string;
  readonly help: string;
}

/**
 * Subcommands: one table for help, dispatch and docs (house style 10). The commands that talk
 * to the running daemon come from the control protocol's table, so the two cannot drift.
 */
export const SUBCOMMANDS: readonly SubcommandSpec[] = [
  { name: "check-config", args: "", help: "validate the config and ignore file, print the effective config" },
  ...CONTROL_COMMANDS.map(({ name, args, help }) => ({ name, args, help })),
  {
    name: "replay",
    args: "FILE.pcap",
    help: "run detection over a capture offline and print what would happen",
  },
  {
    name: "fleet-enforce",
    args: "",
    help: "run no sensor: apply the fleet's blocks (FLEET_URL) to this host's firewall, under its own policy",
  },
  {
    name: "flush",
    args: "",
    help: "remove the daemon's firewall table, chain or sets and every block in them",
  },
];

export function usage(): string {
  const sub = SUBCOMMANDS.map(
    (s) => `  portsentry [-c FILE] ${`${s.name} ${s.args}`.padEnd(20)}${s.help}`,
  ).join("\n");
  return `Usage:
  portsentry [-c FILE] [-i IFACE]... [-v] [-d] [--daemon] MODE...
${sub}
  portsentry --help | --version

MODE is one TCP mode and/or one UDP mode:
  -tcp  -udp    basic: bind the listed ports; a connection or datagram is a hit
  -stcp -sudp   stealth: watch raw packets to the listed ports without binding
  -atcp -audp   advanced: watch every unused port below ADVANCED_PORTS_*

replay FILE.pcap takes stealth/advanced MODEs (default: -stcp -sudp) and --local ADDR,
an address of the captured host (repeatable; default: the hosts that answered probes).

Options:
  -c FILE       config file (default ${DEFAULT_CONFIG_PATH})
  -i IFACE      capture on IFACE (repeatable; default all but loopback)
  -v            verbose: every hit line of a source (no per-source log limit)
  -d            debug: -v, and every decision on stderr
  --daemon      detach from the terminal (default: stay in the foreground)
  --json        control commands and replay: print JSON
  --fleet       unblock: lift the block on every member of the fleet (FLEET_URL)

Exit status: 0 clean stop, 1 failure to start, 2 usage or config error.`;
}

const SUBCOMMAND_NAMES = new Set<string>(SUBCOMMANDS.map((s) => s.name));

export function parseArgs(argv: readonly string[]): ParsedArgs {
  let configPath = DEFAULT_CONFIG_PATH;
  const modes: Mode[] = [];
  const interfaces: string[] = [];
  const positional: string[] = [];
  const localAddresses: string[] = [];
  let verbose = false;
  let debug = false;
  let daemonize = false;
  let json = false;
  let subcommand: string | undefined;
  let fleet = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string | undefined => {
      const next = argv[i + 1];
      if (next === undefined || next === "") return undefined;
      i++;
      return next;
    };
    if (arg === "--help" || arg === "-h") return { ok: true, command: { kind: "help" } };
    if (arg === "--version" || arg === "-V") return { ok: true, command: { kind: "version" } };
    if (arg === "-c" || arg === "--config") {
      const v = value();
      if (v === undefined) return fail(`${arg} needs a file name`);
      configPath = v;
    } else if (arg === "-i" || arg === "--interface") {
      const v = value();
      if (v === undefined) return fail(`${arg} needs an interface name`);
      if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(v)) return fail(`-i: "${printable(v)}" is not an interface name`);
      interfaces.push(v);
    } else if (arg === "-v" || arg === "--verbose") verbose = true;
    else if (arg === "-d" || arg === "--debug") debug = true;
    else if (arg === "--daemon" || arg === "-D") daemonize = true;
    else if (arg === "--json") json = true;
    else if (arg === "--fleet") fleet = true;
    else if (arg === "--local") {
      const v = value();
      if (v === undefined) return fail("--local needs an IP address");
      const address = canonicalIp(v);
      if (address === undefined) return fail(`--local: "${printable(v)}" is not an IP address`);
      if (!localAddresses.includes(address)) localAddresses.push(address);
    } else if (arg in MODE_FLAGS) {
      const mode = MODE_FLAGS[arg]!;
      if (modes.includes(mode)) return fail(`${arg} given twice`);
      modes.push(mode);
    } else if (arg.startsWith("-") && arg !== "-") {
      return fail(`unknown option ${printable(arg)}`);
    } else if (subcommand === undefined && positional.length === 0 && SUBCOMMAND_NAMES.has(arg)) {
      subcommand = arg;
    } else {
      positional.push(arg);
    }
  }

  if (subcommand === "replay") return parseReplay(positional, configPath, json, modes, localAddresses);
  if (localAddresses.length > 0) return fail("--local is an option of replay");
  if (fleet && subcommand !== "unblock") return fail("--fleet is an option of unblock");
  if (subcommand !== undefined) {
    if (modes.length > 0) return fail(`${subcommand} takes no mode flags`);
    // `unblock --fleet IP`: the control command unblock-fleet (the one command table).
    return parseSubcommand(fleet ? "unblock-fleet" : subcommand, positional, configPath, json);
  }
  if (positional.length > 0) return fail(`unexpected argument ${printable(positional[0]!)}`);
  if (modes.length === 0) return fail("no mode given: use one or more of -tcp -udp -stcp -sudp -atcp -audp");
  const tcp = modes.filter((m) => TCP_MODES.includes(m));
  const udp = modes.filter((m) => !TCP_MODES.includes(m));
  if (tcp.length > 1)
    return fail(`only one TCP mode at a time: ${tcp.map((m) => `-${m}`).join(" and ")} given`);
  if (udp.length > 1)
    return fail(`only one UDP mode at a time: ${udp.map((m) => `-${m}`).join(" and ")} given`);
  return { ok: true, command: { kind: "run", configPath, modes, interfaces, verbose, debug, daemonize } };
}

function parseSubcommand(
  name: string,
  args: readonly string[],
  configPath: string,
  json: boolean,
): ParsedArgs {
  const control = controlCommand(name);
  if (control !== undefined) {
    if (args.length < control.minArgs || args.length > control.maxArgs) {
      if (control.maxArgs === 0) return fail(`${name} takes no arguments`);
      if (args.length === 0) return fail(`${name} needs at least one IP address`);
      return fail(`${name} needs ${argCountText(control)}`);
    }
    if (control.maxArgs === 0) {
      return { ok: true, command: { kind: control.name as PlainControlCommand, configPath, json } };
    }
    const kind = control.name as AddressControlCommand;
    return { ok: true, command: { kind, configPath, json, addresses: args } };
  }
  switch (name) {
    case "fleet-enforce":
      // The fleet's bouncer: the daemon with no mode (no sensor); start.ts insists on FLEET_URL.
      if (args.length > 0) return fail(`${name} takes no arguments`);
      return {
        ok: true,
        command: {
          kind: "run",
          configPath,
          modes: [],
          interfaces: [],
          verbose: false,
          debug: false,
          daemonize: false,
        },
      };
    case "check-config":
    case "flush":
      if (args.length > 0) return fail(`${name} takes no arguments`);
      return { ok: true, command: { kind: name, configPath } };
    default:
      return fail(`unknown command ${name}`);
  }
}

/** `replay FILE [MODE]... [--local ADDR]...`: only the capture modes, one TCP and one UDP. */
function parseReplay(
  args: readonly string[],
  configPath: string,
  json: boolean,
  modes: readonly Mode[],
  localAddresses: readonly string[],
): ParsedArgs {
  if (args.length !== 1) return fail("replay needs exactly one capture file");
  const basic = modes.filter((m) => m === "tcp" || m === "udp");
  if (basic.length > 0) {
    return fail(
      `replay runs the stealth and advanced modes (-stcp -sudp -atcp -audp) only: ${basic.map((m) => `-${m}`).join(" ")} binds ports, which a capture cannot replay`,
    );
  }
  const tcp = modes.filter((m) => TCP_MODES.includes(m));
  if (tcp.length > 1)
    return fail(`only one TCP mode at a time: ${tcp.map((m) => `-${m}`).join(" and ")} given`);
  const udp = modes.filter((m) => !TCP_MODES.includes(m));
  if (udp.length > 1)
    return fail(`only one UDP mode at a time: ${udp.map((m) => `-${m}`).join(" and ")} given`);
  return {
    ok: true,
    command: { kind: "replay", configPath, pcapFile: args[0]!, json, modes, localAddresses },
  };
}

function fail(error: string): ParsedArgs {
  return { ok: false, error };
}

/** Arguments are shown back to the user: keep terminal control bytes out. */
function printable(s: string): string {
  const cut = s.length > 80 ? `${s.slice(0, 80)}…` : s;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  return cut.replace(/[\u0000-\u001f\u007f]/g, "?");
}
