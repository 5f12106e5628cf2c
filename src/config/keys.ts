/**
 * The one table of portsentry.conf keys: name, default when absent, value in the shipped
 * etc/portsentry.conf, one-line description, and how to parse and print the value. It drives
 * the parser, `check-config` output, docs/configuration.md and the man page. Pure.
 *
 * To add a key: add a field to `Config` (types.ts) and one row here.
 */

import type { BlockLevel } from "../vocabulary.js";
import { formatFleetUrl, parseFleetName, parseFleetUrl, parseFleetUser } from "./fleet-url.js";
import { closest } from "./suggest.js";
import type { Config, FirewallKind, SyslogFacility, SyslogLevel } from "./types.js";
import { SYSLOG_FACILITIES, SYSLOG_LEVELS } from "./types.js";
import {
  formatDuration,
  formatListenAddress,
  formatPortList,
  parseChoice,
  parseDuration,
  parseFlag,
  parseInteger,
  parseListenAddress,
  parsePath,
  parsePortList,
  parseTemplate,
  type ValueResult,
} from "./values.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** A Config under construction (everything but `file`). */
export type ConfigDraft = Mutable<Omit<Config, "file">>;

export interface KeyContext {
  /** Directory that relative paths are resolved against (the config file's directory). */
  readonly baseDir: string;
}

export interface ConfigKeySpec {
  readonly key: string;
  /** "1.2": a key of PortSentry 1.2's portsentry.conf; "new": added here (spec §2). */
  readonly origin: "1.2" | "new";
  /** The value used when the key is absent, as config text; "" means "not set". */
  readonly absent: string;
  /** The value set in the shipped etc/portsentry.conf, as config text. */
  readonly shipped: string;
  readonly description: string;
  /** Parses `value` into `draft`; returns an error message or undefined. */
  readonly apply: (draft: ConfigDraft, value: string, ctx: KeyContext) => string | undefined;
  /** The effective value as config text, such that parsing it gives the same value back. */
  readonly show: (config: Config) => string;
}

interface RowText {
  readonly origin: "1.2" | "new";
  readonly absent: string;
  readonly shipped: string;
  readonly description: string;
}

function row<K extends keyof ConfigDraft>(
  key: string,
  field: K,
  text: RowText,
  parse: (value: string, ctx: KeyContext) => ValueResult<ConfigDraft[K]>,
  show: (value: Config[K]) => string,
): ConfigKeySpec {
  return {
    key,
    ...text,
    apply: (draft, value, ctx) => {
      const r = parse(value, ctx);
      if (!r.ok) return r.message;
      draft[field] = r.value;
      return undefined;
    },
    show: (config) => show(config[field]),
  };
}

const showText = (v: string | undefined): string => v ?? "";
const showFlag = (v: boolean): string => (v ? "1" : "0");
const port = (v: string) => parseInteger(v, 1, 65_535, "a port");
const optionalPath = (v: string, ctx: KeyContext): ValueResult<string | undefined> =>
  v.trim() === "" ? { ok: true, value: undefined } : parsePath(v, ctx.baseDir);

function parseBlockLevel(v: string): ValueResult<BlockLevel> {
  const t = v.trim();
  if (t === "0" || t === "1" || t === "2") return { ok: true, value: Number(t) as BlockLevel };
  return {
    ok: false,
    message: `${JSON.stringify(t.slice(0, 24))} is not 0 (log only), 1 (block) or 2 (run KILL_RUN_CMD only)`,
  };
}

function parseResolveHost(v: string): ValueResult<boolean> {
  const r = parseFlag(v);
  if (r.ok) return r;
  return { ok: false, message: `${r.message} (1.2 treated anything but "1" as off; write "0")` };
}

/** Syslog names as in syslog.conf(5), lower case; "LOG_DAEMON" and the like get a hint. */
function parseSyslogName<T extends string>(v: string, names: readonly T[], what: string): ValueResult<T> {
  const r = parseChoice(v, names);
  if (r.ok) return r;
  const bare = v.trim().toLowerCase().replace(/^log_/, "");
  const alias: Record<string, string> = { warn: "warning", error: "err", panic: "emerg", security: "auth" };
  const fixed = names.find((n) => n === bare) ?? names.find((n) => n === alias[bare]);
  if (fixed !== undefined) {
    return {
      ok: false,
      message: `${JSON.stringify(v.trim())} is not a ${what} name; did you mean ${fixed}?`,
    };
  }
  const near = closest(bare, names);
  const hint = near !== undefined ? `; did you mean ${near}?` : ` (one of ${names.join(", ")})`;
  return { ok: false, message: `${JSON.stringify(v.trim().slice(0, 24))} is not a ${what} name${hint}` };
}

const FACILITY_NAMES = Object.keys(SYSLOG_FACILITIES) as SyslogFacility[];
const LEVEL_NAMES = Object.keys(SYSLOG_LEVELS) as SyslogLevel[];
const FIREWALLS: readonly FirewallKind[] = ["nftables", "iptables", "ipset", "none"];

const TCP_PORTS_12 =
  "1,11,15,79,111,119,143,540,635,1080,1524,2000,5742,6667,12345,12346,20034,27665,31337,32771,32772,32773,32774,40421,49724,54320";
const UDP_PORTS_12 =
  "1,7,9,69,161,162,513,635,640,641,700,37444,34555,31335,32770,32771,32772,32773,32774,31337,54321";

export const CONFIG_KEYS: readonly ConfigKeySpec[] = [
  row(
    "TCP_PORTS",
    "tcpPorts",
    {
      origin: "1.2",
      absent: "",
      shipped: TCP_PORTS_12,
      description: "TCP ports watched in -tcp and -stcp modes: ports and a-b ranges, comma-separated",
    },
    parsePortList,
    formatPortList,
  ),
  row(
    "UDP_PORTS",
    "udpPorts",
    {
      origin: "1.2",
      absent: "",
      shipped: UDP_PORTS_12,
      description: "UDP ports watched in -udp and -sudp modes: ports and a-b ranges, comma-separated",
    },
    parsePortList,
    formatPortList,
  ),
  row(
    "ADVANCED_PORTS_TCP",
    "advancedPortsTcp",
    {
      origin: "1.2",
      absent: "1024",
      shipped: "1024",
      description: "-atcp watches every TCP port below this number (1-65535)",
    },
    port,
    String,
  ),
  row(
    "ADVANCED_PORTS_UDP",
    "advancedPortsUdp",
    {
      origin: "1.2",
      absent: "1024",
      shipped: "1024",
      description: "-audp watches every UDP port below this number (1-65535)",
    },
    port,
    String,
  ),
  row(
    "ADVANCED_EXCLUDE_TCP",
    "advancedExcludeTcp",
    {
      origin: "1.2",
      absent: "",
      shipped: "113,139",
      description: "TCP ports never watched in -atcp mode (ident, NetBIOS): ports and ranges",
    },
    parsePortList,
    formatPortList,
  ),
  row(
    "ADVANCED_EXCLUDE_UDP",
    "advancedExcludeUdp",
    {
      origin: "1.2",
      absent: "",
      shipped: "520,138,137,67",
      description: "UDP ports never watched in -audp mode (RIP, NetBIOS, bootp): ports and ranges",
    },
    parsePortList,
    formatPortList,
  ),
  row(
    "IGNORE_FILE",
    "ignoreFile",
    {
      origin: "1.2",
      absent: "/etc/portsentry/portsentry.ignore",
      shipped: "portsentry.ignore",
      description: "file of addresses and networks never acted on (relative: to the config file's directory)",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "HISTORY_FILE",
    "historyFile",
    {
      origin: "1.2",
      absent: "/var/lib/portsentry/portsentry.history",
      shipped: "/var/lib/portsentry/portsentry.history",
      description: "append-only record of every block, in 1.2's format (fail2ban reads it)",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "BLOCKED_FILE",
    "blockedFile",
    {
      origin: "1.2",
      absent: "/var/lib/portsentry/portsentry.blocked",
      shipped: "/var/lib/portsentry/portsentry.blocked",
      description: "prefix of the per-mode files of currently blocked hosts (.tcp, .atcp ... is appended)",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "RESOLVE_HOST",
    "resolveHost",
    {
      origin: "1.2",
      absent: "0",
      shipped: "0",
      description: "1: reverse-resolve attackers' names for log lines (never on the packet path)",
    },
    parseResolveHost,
    showFlag,
  ),
  row(
    "BLOCK_UDP",
    "blockUdp",
    {
      origin: "1.2",
      absent: "0",
      shipped: "1",
      description: "reaction to UDP scans: 0 log only, 1 block, 2 run KILL_RUN_CMD only",
    },
    parseBlockLevel,
    String,
  ),
  row(
    "BLOCK_TCP",
    "blockTcp",
    {
      origin: "1.2",
      absent: "0",
      shipped: "1",
      description: "reaction to TCP scans: 0 log only, 1 block, 2 run KILL_RUN_CMD only",
    },
    parseBlockLevel,
    String,
  ),
  row(
    "KILL_ROUTE",
    "killRoute",
    {
      origin: "1.2",
      absent: "",
      shipped: "",
      description: 'command that drops the attacker\'s traffic; must contain $TARGET$ ("" = none)',
    },
    (v) => parseTemplate(v, true),
    showText,
  ),
  row(
    "KILL_ROUTE_UNDO",
    "killRouteUndo",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description:
        'command that lifts a KILL_ROUTE block when it expires or is unblocked; must contain $TARGET$ ("" = derived from KILL_ROUTE when it is a route/ip route/iptables command)',
    },
    (v) => parseTemplate(v, true),
    showText,
  ),
  row(
    "KILL_HOSTS_DENY",
    "killHostsDeny",
    {
      origin: "1.2",
      absent: "",
      shipped: "ALL: $TARGET$",
      description: 'line added to the TCP-wrappers deny file; must contain $TARGET$ ("" = none)',
    },
    (v) => parseTemplate(v, true),
    showText,
  ),
  row(
    "KILL_RUN_CMD_FIRST",
    "killRunCmdFirst",
    {
      origin: "1.2",
      absent: "0",
      shipped: "0",
      description: "1: run KILL_RUN_CMD before blocking; 0: after",
    },
    parseFlag,
    showFlag,
  ),
  row(
    "KILL_RUN_CMD",
    "killRunCmd",
    {
      origin: "1.2",
      absent: "",
      shipped: "",
      description: 'extra command run for each triggered host; macros $TARGET$ $PORT$ $MODE$ ("" = none)',
    },
    (v) => parseTemplate(v, false),
    showText,
  ),
  row(
    "SCAN_TRIGGER",
    "scanTrigger",
    {
      origin: "1.2",
      absent: "0",
      shipped: "0",
      description: "react on the hit that brings a host's count to this number (0 and 1: the first hit)",
    },
    (v) => parseInteger(v, 0, 1000),
    String,
  ),
  row(
    "PORT_BANNER",
    "portBanner",
    {
      origin: "1.2",
      absent: "",
      shipped: "",
      description: 'text written to the peer in -tcp/-udp modes before closing ("" = none)',
    },
    // Kept verbatim (spaces included): it is sent as written.
    (v) => ({ ok: true, value: v === "" ? undefined : v }),
    showText,
  ),
  row(
    "WRAPPER_HOSTS_DENY",
    "wrapperHostsDeny",
    {
      origin: "new",
      absent: "/etc/hosts.deny",
      shipped: "/etc/hosts.deny",
      description: "path of the TCP-wrappers deny file that KILL_HOSTS_DENY lines go to",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "SYSLOG_FACILITY",
    "syslogFacility",
    {
      origin: "new",
      absent: "daemon",
      shipped: "daemon",
      description: `syslog facility: ${FACILITY_NAMES.join(", ")}`,
    },
    (v) => parseSyslogName(v, FACILITY_NAMES, "syslog facility"),
    String,
  ),
  row(
    "SYSLOG_LEVEL",
    "syslogLevel",
    {
      origin: "new",
      absent: "notice",
      shipped: "notice",
      description: `syslog level of alert lines: ${LEVEL_NAMES.join(", ")}`,
    },
    (v) => parseSyslogName(v, LEVEL_NAMES, "syslog level"),
    String,
  ),
  row(
    "SYSLOG_SOCKET",
    "syslogSocket",
    {
      origin: "new",
      absent: "/dev/log",
      shipped: "/dev/log",
      description: "the syslog daemon's Unix datagram socket",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "KILL_FIREWALL",
    "killFirewall",
    {
      origin: "new",
      absent: "none",
      shipped: "nftables",
      description: "built-in blocker run with the route step: nftables, iptables, ipset or none",
    },
    (v) => parseChoice(v, FIREWALLS),
    String,
  ),
  row(
    "BLOCK_TIMEOUT",
    "blockTimeoutSec",
    {
      origin: "new",
      absent: "0",
      shipped: "24h",
      description: "how long a block lasts: seconds, or 45s, 30m, 12h, 7d; 0 is forever",
    },
    parseDuration,
    formatDuration,
  ),
  row(
    "BLOCK_TIMEOUT_GROWTH",
    "blockTimeoutGrowth",
    {
      origin: "new",
      absent: "1",
      shipped: "2",
      description:
        "a host blocked again gets BLOCK_TIMEOUT times this factor per earlier block (1 = no growth)",
    },
    (v) => parseInteger(v, 1, 16),
    String,
  ),
  row(
    "BLOCK_TIMEOUT_MAX",
    "blockTimeoutMaxSec",
    {
      origin: "new",
      absent: "0",
      shipped: "30d",
      description: "ceiling of a grown block timeout: seconds, or 45s, 30m, 12h, 7d; 0 is no ceiling",
    },
    parseDuration,
    formatDuration,
  ),
  row(
    "STATE_DIR",
    "stateDir",
    {
      origin: "new",
      absent: "/var/lib/portsentry",
      shipped: "/var/lib/portsentry",
      description: "directory of the daemon's persistent state and its control socket",
    },
    (v, ctx) => parsePath(v, ctx.baseDir),
    String,
  ),
  row(
    "KERNEL_TRAP",
    "kernelTrap",
    {
      origin: "new",
      absent: "0",
      shipped: "1",
      description: '1 (needs KILL_FIREWALL="nftables"): the kernel drops trap probes and blocks their source',
    },
    parseFlag,
    showFlag,
  ),
  row(
    "MAX_BLOCKS_PER_MINUTE",
    "maxBlocksPerMinute",
    {
      origin: "new",
      absent: "60",
      shipped: "60",
      description:
        "new blocks allowed in any 60 s (kernel trap included); past it a block is held back and logged; 0 = no limit",
    },
    (v) => parseInteger(v, 0, 1_000_000),
    String,
  ),
  row(
    "PROBATION_TIMEOUT",
    "probationSec",
    {
      origin: "new",
      absent: "10m",
      shipped: "10m",
      description:
        "a source's first probe gets only this firewall ban; a second probe (or a full TCP connect) the long ban; 0 = long ban at once",
    },
    parseDuration,
    formatDuration,
  ),
  row(
    "TRIGGER_WINDOW",
    "triggerWindowSec",
    {
      origin: "new",
      absent: "10m",
      shipped: "10m",
      description: "a host's SCAN_TRIGGER count starts again after this long without a hit",
    },
    parseDuration,
    formatDuration,
  ),
  row(
    "LISTEN_GRACE",
    "listenGraceSec",
    {
      origin: "new",
      absent: "10m",
      shipped: "10m",
      description: "advanced modes: a port that had a listener within this long is not a trap (restarts)",
    },
    parseDuration,
    formatDuration,
  ),
  row(
    "DETECT_ACK_SCANS",
    "detectAckScans",
    {
      origin: "new",
      absent: "0",
      shipped: "0",
      description: "1: ACK, Window and Maimon probes to trap ports that belong to no known flow are hits",
    },
    parseFlag,
    showFlag,
  ),
  row(
    "METRICS_LISTEN",
    "metricsListen",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description:
        'ADDRESS:PORT ([::1]:9871 for IPv6) where /metrics is served to Prometheus over HTTP ("" = off)',
    },
    (v) => (v.trim() === "" ? { ok: true, value: undefined } : parseListenAddress(v)),
    formatListenAddress,
  ),
  row(
    "METRICS_LISTEN_PUBLIC",
    "metricsListenPublic",
    {
      origin: "new",
      absent: "0",
      shipped: "0",
      description:
        "1: METRICS_LISTEN may be an address other than loopback (the counters are readable by anyone who reaches it)",
    },
    parseFlag,
    showFlag,
  ),
  row(
    "FLEET_URL",
    "fleetUrl",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description: 'redis://HOST[:PORT][/DB] or rediss:// (TLS) of the fleet\'s Redis ("" = no fleet)',
    },
    parseFleetUrl,
    formatFleetUrl,
  ),
  row(
    "FLEET_NAME",
    "fleetName",
    {
      origin: "new",
      absent: "portsentry",
      shipped: "portsentry",
      description: "the fleet's key prefix in Redis, so several fleets share one server",
    },
    parseFleetName,
    String,
  ),
  row(
    "FLEET_MEMBER",
    "fleetMember",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description: "this member's name in the fleet's events (\"\" = the host name)",
    },
    parseFleetUser,
    showText,
  ),
  row(
    "FLEET_USER",
    "fleetUser",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description: 'Redis ACL user of this member ("" = default user)',
    },
    parseFleetUser,
    showText,
  ),
  row(
    "FLEET_PASSWORD_FILE",
    "fleetPasswordFile",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description: 'file holding the Redis password, re-read on SIGHUP ("" = none)',
    },
    optionalPath,
    showText,
  ),
  row(
    "FLEET_SHARE",
    "fleetShare",
    {
      origin: "new",
      absent: "1",
      shipped: "1",
      description: "1: publish local blocks and trap hits to the fleet; 0: only receive",
    },
    parseFlag,
    showFlag,
  ),
  row(
    "FLEET_SCAN_TRIGGER",
    "fleetScanTrigger",
    {
      origin: "new",
      absent: "0",
      shipped: "0",
      description:
        "distinct (member, port) trap hits across the fleet that block a source everywhere; 0 = off",
    },
    (v) => parseInteger(v, 0, 1_000),
    String,
  ),
  row(
    "FLEET_TRIGGER_WINDOW",
    "fleetTriggerWindowSec",
    {
      origin: "new",
      absent: "10m",
      shipped: "10m",
      description: "the window of FLEET_SCAN_TRIGGER",
    },
    (v) => {
      const r = parseDuration(v);
      if (r.ok && (r.value < 1 || r.value > 86_400)) return { ok: false, message: "must be 1s to 24h" };
      return r;
    },
    formatDuration,
  ),
  row(
    "FLEET_TLS_CA",
    "fleetTlsCa",
    {
      origin: "new",
      absent: "",
      shipped: "",
      description: 'rediss://: CA file to verify the server ("" = system CAs)',
    },
    optionalPath,
    showText,
  ),
  row(
    "FLEET_TLS_CERT",
    "fleetTlsCert",
    { origin: "new", absent: "", shipped: "", description: 'rediss://: client certificate file ("" = none)' },
    optionalPath,
    showText,
  ),
  row(
    "FLEET_TLS_KEY",
    "fleetTlsKey",
    { origin: "new", absent: "", shipped: "", description: 'rediss://: client key file ("" = none)' },
    optionalPath,
    showText,
  ),
];

export const CONFIG_KEY_NAMES: readonly string[] = CONFIG_KEYS.map((k) => k.key);

const BY_NAME: ReadonlyMap<string, ConfigKeySpec> = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

export function configKey(name: string): ConfigKeySpec | undefined {
  return BY_NAME.get(name);
}
