/**
 * The host's own addresses, default gateways, name servers and its networks' broadcast
 * addresses: the hosts a forged probe must never get us to block (spec §6). Addresses are re-read periodically so that addresses that
 * appear or vanish while running are followed.
 */

import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { canonicalIp, parseIp } from "../decode/address.js";
import type { HostFactsWatch } from "./host-facts-watch.js";

/** Every address configured on any interface of this host (this network namespace). */
export function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = canonicalIp(a.address.replace(/%.*$/, ""));
      if (ip !== undefined) out.add(ip);
    }
  }
  return out;
}

/**
 * The directed broadcast address of each IPv4 network on this host's interfaces (/30 and
 * wider): a packet "from" one is forged, and the address is every host's on that link.
 */
export function subnetBroadcasts(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== "IPv4" || a.cidr === null) continue;
      const b = broadcastAddress(a.address, Number(a.cidr.split("/")[1]));
      if (b !== undefined) out.add(b);
    }
  }
  return out;
}

/** The broadcast address of `address`/`prefixBits` (IPv4, /0 to /30), else undefined. */
export function broadcastAddress(address: string, prefixBits: number): string | undefined {
  const ip = parseIp(address);
  if (ip === undefined || ip.family !== 4 || !Number.isInteger(prefixBits)) return undefined;
  if (prefixBits < 0 || prefixBits > 30) return undefined; // /31 and /32 have none (RFC 3021)
  const b = ip.bytes;
  const host = prefixBits === 0 ? 0xffffffff : 2 ** (32 - prefixBits) - 1;
  const n = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]! | host) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** Default gateways from /proc/net/route and /proc/net/ipv6_route. */
export function defaultGateways(): Set<string> {
  const out = new Set<string>();
  for (const line of readLines("/proc/net/route").slice(1)) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway ...; little-endian hex
    if (f[1] === "00000000" && f[2] !== undefined && f[2] !== "00000000") {
      const n = Number.parseInt(f[2], 16);
      out.add(`${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`);
    }
  }
  for (const line of readLines("/proc/net/ipv6_route")) {
    const f = line.trim().split(/\s+/);
    // dest destlen src srclen nexthop metric refcnt use flags iface
    if (f[0] === "0".repeat(32) && f[1] === "00" && f[4] !== undefined && f[4] !== "0".repeat(32)) {
      const hex = f[4];
      const ip = canonicalIp(hex.match(/.{4}/g)?.join(":") ?? "");
      if (ip !== undefined) out.add(ip);
    }
  }
  return out;
}

/** `nameserver` lines of resolv.conf. */
export function nameServers(path = "/etc/resolv.conf"): Set<string> {
  const out = new Set<string>();
  for (const line of readLines(path)) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = m?.[1] ? canonicalIp(m[1].replace(/%.*$/, "")) : undefined;
    if (ip !== undefined) out.add(ip);
  }
  return out;
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n");
  } catch {
    return [];
  }
}

/**
 * Why an address must never be blocked, or undefined. Kept current by change events, off the
 * hit path: re-reading the facts costs ~0.2 ms (interfaces, two route tables, resolv.conf), which a
 * probe must not wait for.
 */
export class ProtectedHosts {
  #own = new Set<string>();
  #gateways = new Set<string>();
  #nameServers = new Set<string>();
  #broadcasts = new Set<string>();
  #refreshedAtMs = Number.NEGATIVE_INFINITY;
  readonly #maxAgeMs: number;
  readonly #monoClockMs: () => number;

  readonly #watch: HostFactsWatch | undefined;

  /**
   * Facts are re-read when `watch` reports a change; without a live watch, when used and older
   * than `maxAgeMs`. No timer: at rest nothing wakes the daemon (#17).
   */
  constructor(maxAgeMs: number, monoClockMs: () => number, watch?: HostFactsWatch) {
    this.#maxAgeMs = maxAgeMs;
    this.#monoClockMs = monoClockMs;
    this.#watch = watch;
    watch?.onChange(() => this.refresh());
    this.refresh();
  }

  refresh(): void {
    this.#own = ownAddresses();
    this.#gateways = defaultGateways();
    this.#nameServers = nameServers();
    this.#broadcasts = subnetBroadcasts();
    this.#refreshedAtMs = this.#monoClockMs();
  }

  /** An address of this host (ignored silently, like loopback). */
  isOwn(address: string): boolean {
    this.#refreshIfStale();
    return this.#own.has(address);
  }

  /** Why a host whose probes are logged must never be blocked, or undefined. */
  neverBlockReason(address: string): string | undefined {
    this.#refreshIfStale();
    if (this.#own.has(address)) return "it is an address of this host";
    if (this.#gateways.has(address)) return "it is a default gateway";
    if (this.#nameServers.has(address)) return "it is a configured name server";
    if (this.#broadcasts.has(address)) return "it is the broadcast address of a network of this host";
    return undefined;
  }

  #refreshIfStale(): void {
    if (this.#watch?.live === true) return;
    if (this.#monoClockMs() - this.#refreshedAtMs > this.#maxAgeMs) this.refresh();
  }

  ownAddresses(): ReadonlySet<string> {
    return this.#own;
  }
}
