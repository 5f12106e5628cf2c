/**
 * Basic-mode TCP trap: a listening port whose every completed connection is a hit.
 *
 * Node's net.Server loses the peer address of a connection that is reset right after the
 * handshake (nmap -sT; nodejs/node#23858), so the listening socket lives in a small native
 * addon (native/trap_accept.c) that takes the address from accept4() itself, calls back
 * synchronously, writes the banner and closes. This module is its only importer.
 */

import type { IpFamily } from "../decode/address.js";
import { loadNativeAddon } from "./native-addon.js";

export interface TcpConnectHit {
  /** inet_ntop text of the peer: dotted quad or compressed IPv6. */
  readonly address: string;
  readonly family: IpFamily;
  readonly remotePort: number;
  readonly localPort: number;
}

/** Returns the banner to write before the connection is closed, or undefined for none. */
export type TcpHitHandler = (hit: TcpConnectHit) => string | Buffer | undefined;

export interface TcpTrapOptions {
  /** listen() backlog; the kernel caps it at net.core.somaxconn. */
  readonly backlog?: number;
  /** accept() ran out of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the trap pauses 100 ms. */
  readonly onAcceptError?: (code: string) => void;
}

export interface TcpTrapStats {
  /** Connections accepted and reported. */
  readonly accepted: number;
  /** Connections gone before accept (ECONNABORTED, EPROTO, ...): nothing to attribute. */
  readonly skipped: number;
  /** Pauses for resource exhaustion. */
  readonly resourceErrors: number;
}

/** Thrown when native/build/Release/trap_accept.node is missing or not loadable. */
export class TrapAddonError extends Error {
  readonly code = "ERR_TRAP_ADDON";
  override readonly name = "TrapAddonError";
}

declare const trapHandleBrand: unique symbol;
type TrapHandle = { readonly [trapHandleBrand]: true };

interface TrapAcceptAddon {
  listen(family: IpFamily, port: number, backlog: number): number;
  watch(
    fd: number,
    onHit: (address: string, remotePort: number, localPort: number, family: IpFamily) => unknown,
    onError?: (code: string) => void,
  ): TrapHandle;
  close(handle: TrapHandle): void;
  port(handle: TrapHandle): number;
  stats(handle: TrapHandle): TcpTrapStats;
}

const DEFAULT_BACKLOG = 511;

let addon: TrapAcceptAddon | undefined;

/** Loaded on first use, so that importing this module never fails (a -udp-only daemon). */
function loadAddon(): TrapAcceptAddon {
  if (addon !== undefined) return addon;
  try {
    addon = loadNativeAddon<TrapAcceptAddon>("trap_accept", ["listen", "watch", "close", "port", "stats"]);
  } catch (error) {
    throw new TrapAddonError((error as Error).message);
  }
  return addon;
}

/** Throws TrapAddonError unless the addon loads: for a start-up check before any port is opened. */
export function assertTcpTrapAddon(): void {
  loadAddon();
}

export class TcpTrap {
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly port: number;
  readonly family: IpFamily;
  readonly #addon: TrapAcceptAddon;
  // Kept after close: the native side makes a second close a no-op and keeps the counters.
  readonly #handle: TrapHandle;
  #open = true;

  private constructor(addon: TrapAcceptAddon, handle: TrapHandle, family: IpFamily) {
    this.#addon = addon;
    this.#handle = handle;
    this.family = family;
    this.port = addon.port(handle);
  }

  /**
   * Listens on the wildcard address of one family (IPv6 sockets are v6-only, so a v4 and a v6
   * trap can share a port). Throws an Error whose `code` is the errno name (EADDRINUSE, EACCES,
   * EMFILE, ...), or a TrapAddonError when the addon is not built.
   */
  static open(port: number, family: IpFamily, onHit: TcpHitHandler, options: TcpTrapOptions = {}): TcpTrap {
    const native = loadAddon();
    const fd = native.listen(family, port, options.backlog ?? DEFAULT_BACKLOG);
    // watch() owns fd from here: it closes it itself if it throws.
    const handle = native.watch(
      fd,
      (address, remotePort, localPort, hitFamily) =>
        onHit({ address, family: hitFamily, remotePort, localPort }),
      options.onAcceptError,
    );
    return new TcpTrap(native, handle, family);
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Counters since open; still readable after close. */
  get stats(): TcpTrapStats {
    return this.#addon.stats(this.#handle);
  }

  /** Stops watching and closes the listening socket now; the port is free on return. Idempotent. */
  close(): void {
    this.#open = false;
    this.#addon.close(this.#handle);
  }
}
