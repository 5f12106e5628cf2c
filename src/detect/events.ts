/** What flows between the stages: sensor → detect → policy → respond. Pure data. */

import type { IpFamily } from "../decode/address.js";

/** The six modes of PortSentry 1.2, as `$MODE$` spells them. */
export type Mode = "tcp" | "udp" | "stcp" | "sudp" | "atcp" | "audp";
export type Protocol = "TCP" | "UDP";

export function protocolOf(mode: Mode): Protocol {
  return mode === "tcp" || mode === "stcp" || mode === "atcp" ? "TCP" : "UDP";
}

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
}
