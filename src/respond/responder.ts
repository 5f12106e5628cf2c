/** The lifecycle every blocker shares (house style 5): idempotent, owns its namespace, no residue. */

import type { IpFamily } from "../decode/address.js";
import type { Mode } from "../vocabulary.js";

/** A validated target: `address` is canonical text produced by src/decode/address.ts. */
export interface BlockTarget {
  readonly address: string;
  readonly family: IpFamily;
  readonly port: number;
  readonly mode: Mode;
}

export type ResponderResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface Responder {
  /** Short name for logs: "nftables", "iptables", "route", "hosts.deny", ... */
  readonly name: string;
  /** Creates what the responder owns (table, chain, set) if missing. */
  start(): Promise<ResponderResult>;
  /** Blocks; `timeoutSec` 0 means forever. Blocking an already blocked host is not an error. */
  ban(target: BlockTarget, timeoutSec: number): Promise<ResponderResult>;
  /**
   * PROBATION_TIMEOUT, where the blocker has a place of its own for it (nftables: sets whose
   * elements time out in the kernel). Without it a probation is a `ban` the daemon lifts.
   */
  probation?(target: BlockTarget, timeoutSec: number): Promise<ResponderResult>;
  /** Lifts a block (and a probation); lifting a host that is not blocked is not an error. */
  unban(target: BlockTarget): Promise<ResponderResult>;
  /** Removes every block and everything the responder created. */
  flush(): Promise<ResponderResult>;
  /** Releases processes and handles; blocks stay in force. */
  stop(): Promise<void>;
}
