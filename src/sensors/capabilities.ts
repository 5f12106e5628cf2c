/**
 * Least privilege (house style 11): which Linux capabilities the chosen modes and config need,
 * and which of them this process lacks, read from the effective set in /proc/self/status.
 * The daemon checks at start and names what is missing and why, instead of failing later with
 * a bare EPERM/EACCES from bind(2), libpcap or nft.
 */

import { readFileSync } from "node:fs";
import type { Config } from "../config/types.js";
import type { Mode } from "../vocabulary.js";

export type CapabilityName = "CAP_NET_BIND_SERVICE" | "CAP_NET_ADMIN" | "CAP_NET_RAW";

/** Bit numbers from linux/capability.h. */
export const CAPABILITY_BITS: Readonly<Record<CapabilityName, number>> = {
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
};

/** Every capability the daemon may need, in the order they are reported. */
export const ALL_CAPABILITIES: readonly CapabilityName[] = [
  "CAP_NET_RAW",
  "CAP_NET_ADMIN",
  "CAP_NET_BIND_SERVICE",
];

export interface CapabilityNeed {
  readonly capability: CapabilityName;
  /** What needs it: `-stcp and -audp (packet capture)`. */
  readonly reason: string;
  /**
   * false when the need is a guess: `KILL_ROUTE` is an operator's command, which usually
   * changes routes or the firewall but may not. The caller may warn instead of refusing.
   */
  readonly certain: boolean;
}

/** The config values that decide what is needed. */
export type CapabilityConfig = Pick<
  Config,
  "tcpPorts" | "udpPorts" | "blockTcp" | "blockUdp" | "killFirewall" | "killRoute"
>;

/** Linux default of net.ipv4.ip_unprivileged_port_start (it applies to IPv6 as well). */
export const DEFAULT_UNPRIVILEGED_PORT_START = 1024;

const STATUS_PATH = "/proc/self/status";
const PORT_START_PATH = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
/** How many low ports a message lists before "and N more". */
const PORTS_SHOWN = 5;

/** The `CapEff` mask from the text of /proc/<pid>/status; undefined when absent or malformed. */
export function parseCapEff(statusText: string): bigint | undefined {
  const m = /^CapEff:[ \t]*([0-9a-fA-F]{1,16})[ \t]*$/m.exec(statusText);
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}

export function hasCapability(effective: bigint, capability: CapabilityName): boolean {
  return ((effective >> BigInt(CAPABILITY_BITS[capability])) & 1n) === 1n;
}

/** This process's effective capability mask; undefined when /proc cannot tell. */
export function readEffectiveCapabilities(statusPath: string = STATUS_PATH): bigint | undefined {
  try {
    return parseCapEff(readFileSync(statusPath, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The capabilities in `needed` that are not in the effective set. When the set cannot be read
 * (no /proc), nothing is reported missing: the operation itself will then fail with its own
 * error, which is better than refusing to start on a guess.
 */
export function missingCapabilities(
  needed: readonly CapabilityName[],
  effective: bigint | undefined = readEffectiveCapabilities(),
): CapabilityName[] {
  if (effective === undefined) return [];
  return [...new Set(needed)].filter((c) => !hasCapability(effective, c));
}

/** net.ipv4.ip_unprivileged_port_start (containers often lower it to 0); 1024 if unreadable. */
export function readUnprivilegedPortStart(path: string = PORT_START_PATH): number {
  try {
    const n = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(n) && n >= 0 && n <= 65_536 ? n : DEFAULT_UNPRIVILEGED_PORT_START;
  } catch {
    return DEFAULT_UNPRIVILEGED_PORT_START;
  }
}

/**
 * What `modes` with `config` need, one entry per capability, in ALL_CAPABILITIES order:
 * - stealth and advanced modes capture packets: CAP_NET_RAW;
 * - basic modes bind their ports: CAP_NET_BIND_SERVICE when one is below `unprivilegedPortStart`;
 * - a built-in firewall (used when a BLOCK_* level is 1): CAP_NET_ADMIN, also in the nft,
 *   iptables or ipset child it runs; KILL_ROUTE likewise, but uncertain (operator's command).
 */
export function neededCapabilities(
  modes: readonly Mode[],
  config: CapabilityConfig,
  unprivilegedPortStart: number = DEFAULT_UNPRIVILEGED_PORT_START,
): readonly CapabilityNeed[] {
  const needs: CapabilityNeed[] = [];

  const capture = modes.filter((m) => m !== "tcp" && m !== "udp");
  if (capture.length > 0) {
    needs.push({ capability: "CAP_NET_RAW", reason: `${flags(capture)} (packet capture)`, certain: true });
  }

  const blocking = config.blockTcp === 1 || config.blockUdp === 1;
  if (blocking && config.killFirewall !== "none") {
    needs.push({
      capability: "CAP_NET_ADMIN",
      reason: `KILL_FIREWALL="${config.killFirewall}" (adding blocks to the firewall)`,
      certain: true,
    });
  } else if (blocking && config.killRoute !== undefined) {
    needs.push({
      capability: "CAP_NET_ADMIN",
      reason: "KILL_ROUTE (route and firewall commands usually need it)",
      certain: false,
    });
  }

  const low: { mode: Mode; ports: readonly number[] }[] = [];
  for (const mode of modes) {
    const list = mode === "tcp" ? config.tcpPorts : mode === "udp" ? config.udpPorts : [];
    const ports = list.filter((p) => p < unprivilegedPortStart);
    if (ports.length > 0) low.push({ mode, ports });
  }
  if (low.length > 0) {
    const detail = low
      .map(({ mode, ports }) => `${mode === "tcp" ? "TCP" : "UDP"} ${shortList(ports)}`)
      .join("; ");
    needs.push({
      capability: "CAP_NET_BIND_SERVICE",
      reason: `${flags(low.map((l) => l.mode))} (binding ports below ${unprivilegedPortStart}: ${detail})`,
      certain: true,
    });
  }
  return needs;
}

/**
 * One message per missing capability, for the daemon's start-up check:
 * `missing capability CAP_NET_RAW: needed for -stcp (packet capture)`.
 */
export function describeMissing(
  needs: readonly CapabilityNeed[],
  effective: bigint | undefined = readEffectiveCapabilities(),
): readonly { readonly need: CapabilityNeed; readonly message: string }[] {
  const missing = new Set(
    missingCapabilities(
      needs.map((n) => n.capability),
      effective,
    ),
  );
  return needs
    .filter((n) => missing.has(n.capability))
    .map((need) => ({ need, message: `missing capability ${need.capability}: needed for ${need.reason}` }));
}

function flags(modes: readonly Mode[]): string {
  const names = modes.map((m) => `-${m}`);
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

function shortList(ports: readonly number[]): string {
  const shown = ports.slice(0, PORTS_SHOWN).join(", ");
  return ports.length > PORTS_SHOWN ? `${shown} and ${ports.length - PORTS_SHOWN} more` : shown;
}
