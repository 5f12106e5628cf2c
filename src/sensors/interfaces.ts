/**
 * Where to capture and what counts as "addressed to this host": the interfaces from
 * /sys/class/net and the addresses from os.networkInterfaces(), re-read by the stealth sensor
 * every couple of seconds so that interfaces and addresses that come and go are followed.
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { canonicalIp } from "../decode/address.js";

export interface InterfaceInfo {
  readonly name: string;
  readonly up: boolean;
  readonly loopback: boolean;
  /** A bridge or bond port: its traffic is seen again on the master, so it is not captured. */
  readonly enslaved: boolean;
}

const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;

export function listInterfaces(sysRoot = "/sys/class/net"): InterfaceInfo[] {
  let names: string[];
  try {
    names = readdirSync(sysRoot);
  } catch {
    return [];
  }
  const out: InterfaceInfo[] = [];
  for (const name of names.sort()) {
    let flags: number;
    try {
      flags = Number.parseInt(readFileSync(`${sysRoot}/${name}/flags`, "latin1").trim(), 16);
    } catch {
      continue; // vanished while listing
    }
    if (!Number.isFinite(flags)) continue;
    let enslaved = false;
    try {
      readlinkSync(`${sysRoot}/${name}/master`);
      enslaved = true;
    } catch {}
    out.push({ name, up: (flags & IFF_UP) !== 0, loopback: (flags & IFF_LOOPBACK) !== 0, enslaved });
  }
  return out;
}

/**
 * The interfaces to capture on. Default: every interface that is up, except loopback and bridge
 * or bond ports (each frame would be seen twice). With `-i`: the named ones that exist and are
 * up, whatever they are.
 */
export function captureInterfaces(requested: readonly string[], all: readonly InterfaceInfo[]): string[] {
  if (requested.length > 0) {
    const wanted = new Set(requested);
    return all.filter((i) => wanted.has(i.name) && i.up).map((i) => i.name);
  }
  return all.filter((i) => i.up && !i.loopback && !i.enslaved).map((i) => i.name);
}

export interface LocalAddresses {
  /** Non-loopback addresses of every interface: what a probe from outside can be sent to. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  /** Every address including loopback: packets from these are ours, not probes. */
  readonly own: readonly string[];
}

/**
 * Addresses of any interface count, not only the captured ones: Linux accepts a packet for
 * eth1's address arriving on eth0. Loopback addresses are left out of the filter: a frame for
 * 127.0.0.1 arriving on eth0 is dropped by the kernel as a martian and must not look like a probe.
 */
export function localAddresses(): LocalAddresses {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = canonicalIp(a.address.replace(/%.*$/, ""));
      if (ip === undefined) continue;
      own.add(ip);
      if (a.internal || ip.startsWith("127.") || ip === "::1") continue;
      (a.family === "IPv4" ? v4 : v6).add(ip);
    }
  }
  return { v4: [...v4].sort(), v6: [...v6].sort(), own: [...own].sort() };
}
