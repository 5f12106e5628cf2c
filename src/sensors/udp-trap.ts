/**
 * Basic-mode UDP trap: a bound port whose every datagram is a hit. Unlike TCP, Node's dgram
 * reports the sender with each datagram, so no native code is needed.
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { IpFamily } from "../decode/address.js";

export interface UdpDatagramHit {
  readonly address: string;
  readonly family: IpFamily;
  readonly remotePort: number;
  readonly localPort: number;
}

/** Returns the banner to send back as one datagram, or undefined for none. */
export type UdpHitHandler = (hit: UdpDatagramHit) => string | Buffer | undefined;

export interface UdpTrapOptions {
  /** A socket error after bind (rare for UDP); the trap stays open. */
  readonly onError?: (error: Error) => void;
}

const MAPPED_PREFIX = "::ffff:";

function hitOf(rinfo: RemoteInfo, localPort: number): UdpDatagramHit {
  const family: IpFamily = rinfo.family === "IPv6" ? 6 : 4;
  // Not expected with ipv6Only; report the IPv4 host it really is.
  if (family === 6 && rinfo.address.toLowerCase().startsWith(MAPPED_PREFIX) && rinfo.address.includes(".")) {
    return {
      address: rinfo.address.slice(MAPPED_PREFIX.length),
      family: 4,
      remotePort: rinfo.port,
      localPort,
    };
  }
  return { address: rinfo.address, family, remotePort: rinfo.port, localPort };
}

export class UdpTrap {
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly port: number;
  readonly family: IpFamily;
  readonly #socket: Socket;
  #open = true;
  #datagrams = 0;
  #sendErrors = 0;

  private constructor(socket: Socket, port: number, family: IpFamily) {
    this.#socket = socket;
    this.port = port;
    this.family = family;
  }

  /**
   * Binds the wildcard address of one family (IPv6 is v6-only, so v4 and v6 traps can share a
   * port). Rejects with the bind error, whose `code` is the errno name (EADDRINUSE, EACCES, ...).
   */
  static open(
    port: number,
    family: IpFamily,
    onHit: UdpHitHandler,
    options: UdpTrapOptions = {},
  ): Promise<UdpTrap> {
    const socket =
      family === 4 ? createSocket({ type: "udp4" }) : createSocket({ type: "udp6", ipv6Only: true });
    return new Promise<UdpTrap>((resolvePromise, reject) => {
      const failBind = (error: Error): void => {
        try {
          socket.close();
        } catch {
          // already closed by the failed bind: nothing to release
        }
        reject(error);
      };
      socket.once("error", failBind);
      socket.bind({ port, address: family === 4 ? "0.0.0.0" : "::", exclusive: true }, () => {
        socket.off("error", failBind);
        const trap = new UdpTrap(socket, socket.address().port, family);
        socket.on("error", (error) => options.onError?.(error));
        socket.on("message", (_message, rinfo) => trap.#onMessage(rinfo, onHit));
        resolvePromise(trap);
      });
    });
  }

  #onMessage(rinfo: RemoteInfo, onHit: UdpHitHandler): void {
    if (!this.#open) return;
    this.#datagrams++;
    const banner = onHit(hitOf(rinfo, this.port));
    if (banner === undefined || banner.length === 0 || !this.#open) return;
    // With a callback, send errors (unreachable sender, buffer full) never reach 'error'.
    this.#socket.send(banner, rinfo.port, rinfo.address, (error) => {
      if (error) this.#sendErrors++;
    });
  }

  get isOpen(): boolean {
    return this.#open;
  }

  get stats(): { readonly datagrams: number; readonly sendErrors: number } {
    return { datagrams: this.#datagrams, sendErrors: this.#sendErrors };
  }

  /** Closes the socket; the port is free on return. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.close();
  }
}
