/** The typed, readonly result of parsing portsentry.conf (spec §2). */

import type { BlockLevel } from "../vocabulary.js";

export type FirewallKind = "nftables" | "iptables" | "ipset" | "none";

/** Syslog facilities by name, as in syslog.conf(5). */
export const SYSLOG_FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

export const SYSLOG_LEVELS = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const;
export type SyslogLevel = keyof typeof SYSLOG_LEVELS;

export interface Config {
  /** Path of the file this config was read from (for messages). */
  readonly file: string;

  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
  /** Advanced modes watch every port strictly below this number. */
  readonly advancedPortsTcp: number;
  readonly advancedPortsUdp: number;
  readonly advancedExcludeTcp: readonly number[];
  readonly advancedExcludeUdp: readonly number[];

  readonly ignoreFile: string;
  readonly historyFile: string;
  /** Prefix; `.<mode>` is appended. */
  readonly blockedFile: string;
  readonly resolveHost: boolean;

  readonly blockTcp: BlockLevel;
  readonly blockUdp: BlockLevel;
  /** Command templates; undefined when not configured. */
  readonly killRoute: string | undefined;
  /** Lifts a KILL_ROUTE block; undefined: derived from killRoute where possible. */
  readonly killRouteUndo: string | undefined;
  readonly killHostsDeny: string | undefined;
  readonly killRunCmd: string | undefined;
  readonly killRunCmdFirst: boolean;
  readonly scanTrigger: number;
  readonly portBanner: string | undefined;

  readonly wrapperHostsDeny: string;
  readonly syslogFacility: SyslogFacility;
  readonly syslogLevel: SyslogLevel;
  /** Path of the syslog socket (`/dev/log`). */
  readonly syslogSocket: string;
  readonly killFirewall: FirewallKind;
  /** 0 means forever. */
  readonly blockTimeoutSec: number;
  /** Factor applied per earlier block of the same host (1 = none). */
  readonly blockTimeoutGrowth: number;
  /** Ceiling of a grown timeout; 0 = none. */
  readonly blockTimeoutMaxSec: number;
  readonly stateDir: string;
  readonly kernelTrap: boolean;
  /** New blocks allowed per minute; 0 = unlimited. */
  readonly maxBlocksPerMinute: number;
  /** SCAN_TRIGGER counts are forgotten after this long without a hit. */
  readonly triggerWindowSec: number;
  /**
   * PROBATION_TIMEOUT: a ban decided on an unverified source's first probe is a firewall-only
   * ban this long; 0: every ban is a long one (1.2).
   */
  readonly probationSec: number;
  /** LISTEN_GRACE: a port with a listener within this long is not a trap in advanced mode. */
  readonly listenGraceSec: number;
  /** DETECT_ACK_SCANS: ACK, Window and Maimon probes to trap ports are hits. */
  readonly detectAckScans: boolean;
  /** METRICS_LISTEN: where /metrics is served over HTTP; undefined = off. */
  readonly metricsListen: ListenAddress | undefined;
  /** METRICS_LISTEN_PUBLIC: a non-loopback METRICS_LISTEN is allowed only with this set. */
  readonly metricsListenPublic: boolean;
  /** FLEET_URL: the fleet's Redis; undefined = no fleet. */
  readonly fleetUrl: FleetUrl | undefined;
  /** FLEET_NAME: key prefix `{name}:` (a hash tag: one Cluster slot per fleet). */
  readonly fleetName: string;
  /** FLEET_MEMBER: this member's name in events; undefined = the host name. */
  readonly fleetMember: string | undefined;
  /** FLEET_USER: Redis ACL user; undefined = Redis's default user. */
  readonly fleetUser: string | undefined;
  /** FLEET_PASSWORD_FILE: read at start and on SIGHUP; undefined = no password. */
  readonly fleetPasswordFile: string | undefined;
  /** FLEET_SHARE: publish local blocks and hits (false: only receive). */
  readonly fleetShare: boolean;
  /** FLEET_SCAN_TRIGGER: distinct (member, port) hits fleet-wide that block a source; 0 = off. */
  readonly fleetScanTrigger: number;
  /** FLEET_TRIGGER_WINDOW: the window of FLEET_SCAN_TRIGGER. */
  readonly fleetTriggerWindowSec: number;
  /** FLEET_TLS_CA, FLEET_TLS_CERT, FLEET_TLS_KEY: files for rediss://; undefined = system CAs / no client cert. */
  readonly fleetTlsCa: string | undefined;
  readonly fleetTlsCert: string | undefined;
  readonly fleetTlsKey: string | undefined;
}

/** A parsed FLEET_URL. */
export interface FleetUrl {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly db: number;
}

/** An IP literal and a port; `host` is canonical text without brackets. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly loopback: boolean;
}

/** One problem found in a config or ignore file. */
export interface ConfigError {
  readonly file: string;
  /** 1-based; 0 when the problem is not tied to a line (missing file). */
  readonly line: number;
  /** The key concerned, when there is one. */
  readonly key: string | undefined;
  readonly message: string;
}

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

/** `portsentry.conf:12: TCP_PORTS: 70000 is not a port (1-65535)` */
export function formatConfigError(e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}` : e.file;
  return e.key ? `${where}: ${e.key}: ${e.message}` : `${where}: ${e.message}`;
}
