/**
 * The words every stage shares: what flows sensor → detect → policy → respond, and what is
 * remembered of a block. Pure data, part of the pure core: any stage may import it, and it
 * imports nothing but the core (`npm run lint` checks both). Kept here, not in one stage's
 * folder, so that no stage imports another only to name a type.
 */

import type { IpFamily } from "./decode/address.js";

/** The six modes of PortSentry 1.2, as `$MODE$` spells them. */
export type Mode = "tcp" | "udp" | "stcp" | "sudp" | "atcp" | "audp";
export type Protocol = "TCP" | "UDP";

export function protocolOf(mode: Mode): Protocol {
  return mode === "tcp" || mode === "stcp" || mode === "atcp" ? "TCP" : "UDP";
}

/** BLOCK_TCP / BLOCK_UDP: 0 = log only, 1 = full block chain, 2 = KILL_RUN_CMD only. */
export type BlockLevel = 0 | 1 | 2;

/** One probe to a watched port: a connection, a datagram or a stealth packet. */
export interface Hit {
  readonly mode: Mode;
  /** Canonical text of the source address. */
  readonly address: string;
  readonly family: IpFamily;
  readonly port: number;
  /** For basic modes "Connect"; for stealth modes the §4 classification text. */
  readonly classification: string;
  readonly ipOptions: boolean;
  /** Monotonic milliseconds (for windows), injected by the caller. */
  readonly nowMs: number;
  /**
   * KERNEL_TRAP: the kernel already dropped this probe and put the source into the blocked
   * set (learnt through NFLOG). The block exists: it is to be recorded, not decided upon.
   */
  readonly kernelBlocked?: boolean;
  /**
   * KERNEL_TRAP with PROBATION_TIMEOUT: the kernel dropped this probe of a source it holds on
   * probation (a repeat offender, whatever the daemon remembers).
   */
  readonly probationRepeat?: boolean;
}

/** A host we have blocked, as the registry and the state store hold it. */
export interface BlockRecord {
  readonly address: string;
  readonly family: IpFamily;
  readonly mode: Mode;
  readonly port: number;
  /** Wall-clock milliseconds. */
  readonly sinceMs: number;
  /** Wall-clock milliseconds; 0 = never. */
  readonly expiresAtMs: number;
  /** 1 = full block chain, 2 = KILL_RUN_CMD only. */
  readonly level: 1 | 2;
}

/** A set of ports: `bitmap[port] === 1` when the port is in it. 64 KiB, indexed by port number. */
export type PortBitmap = Uint8Array;
