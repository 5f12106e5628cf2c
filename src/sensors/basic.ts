/**
 * Basic modes (`-tcp`, `-udp`, spec §3): bind every listed port, IPv4 and IPv6; a completed
 * connection or a datagram is a hit. A port that cannot be bound is skipped with the 1.2 line.
 */

import type { IpFamily } from "../decode/address.js";
import { canonicalIp } from "../decode/address.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { Hit } from "../vocabulary.js";
import { TcpTrap } from "./tcp-trap.js";
import { UdpTrap } from "./udp-trap.js";

/** Decides on a hit and returns the banner to send back (or undefined). */
export type BasicHitHandler = (hit: Hit) => string | undefined;

interface Closable {
  close(): void;
}

export interface BasicSensor {
  readonly boundPorts: readonly number[];
  close(): void;
}

const FAMILIES: readonly IpFamily[] = [4, 6];

/** Opens the traps of one protocol; resolves when every port that can be bound is bound. */
export async function openBasicSensor(
  protocol: "tcp" | "udp",
  ports: readonly number[],
  onHit: BasicHitHandler,
  log: Log,
  monoClockMs: () => number,
): Promise<BasicSensor> {
  const traps: Closable[] = [];
  const bound: number[] = [];
  const proto = protocol === "tcp" ? "TCP" : "UDP";
  const toHit = (address: string, family: IpFamily, port: number): Hit | undefined => {
    const canonical = canonicalIp(address);
    if (canonical === undefined) return undefined;
    return {
      mode: protocol,
      address: canonical,
      family,
      port,
      classification: protocol === "tcp" ? "Connect" : "UDP scan",
      ipOptions: false,
      nowMs: monoClockMs(),
    };
  };

  for (const port of ports) {
    const errors: string[] = [];
    let families = 0;
    for (const family of FAMILIES) {
      try {
        if (protocol === "tcp") {
          traps.push(
            TcpTrap.open(port, family, (c) => {
              const hit = toHit(c.address, c.family, c.localPort);
              return hit && onHit(hit);
            }),
          );
        } else {
          traps.push(
            await UdpTrap.open(port, family, (d) => {
              const hit = toHit(d.address, d.family, d.localPort);
              return hit && onHit(hit);
            }),
          );
        }
        families++;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        // A host without IPv6 is not a failure to bind the port.
        if (family === 6 && (code === "EAFNOSUPPORT" || code === "EADDRNOTAVAIL")) continue;
        errors.push(`IPv${family}: ${code}`);
      }
    }
    if (families > 0) {
      bound.push(port);
      log.notice(protocol === "tcp" ? msg.listenTcp(port) : msg.listenUdp(port));
      if (errors.length > 0) {
        log.warn(msg.boundInPart(proto, port, errors));
      }
    } else {
      log.error(msg.bindError(proto, port), { port, reason: errors.join(", ") });
      if (errors.some((e) => e.includes("EMFILE"))) {
        log.error(msg.outOfFileDescriptors());
      }
    }
  }
  return {
    boundPorts: bound,
    close() {
      for (const t of traps) t.close();
    },
  };
}
