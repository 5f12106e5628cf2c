/**
 * Listening ports asked of the kernel over NETLINK_SOCK_DIAG (native/sock_diag.c): a dump of
 * TCP sockets in LISTEN and of bound, unconnected UDP sockets, IPv4 and IPv6, of this network
 * namespace. The same sockets /proc/net/{tcp,udp}[6] shows in state 0A and 07, at a fraction of
 * the cost (see src/sensors/listening.ts). Synchronous: a dump of listeners takes microseconds.
 */

import { emptyPorts } from "../port-set.js";
import type { PortBitmap } from "../vocabulary.js";
import { loadNativeAddon } from "./native-addon.js";

interface SockDiagAddon {
  /** Marks the listening ports of `protocol` (6 or 17) in `into`; returns the sockets seen. */
  listening(protocol: number, into: Uint8Array): number;
}

const PROTOCOL = { tcp: 6, udp: 17 } as const;

let addon: SockDiagAddon | undefined;

/**
 * The listening ports of `proto`. Throws when the addon is not built or the kernel cannot
 * answer (Error code "ESOCKDIAG": no AF_NETLINK, no inet_diag/udp_diag module).
 */
export function readListeningDiag(proto: "tcp" | "udp"): PortBitmap {
  addon ??= loadNativeAddon<SockDiagAddon>("sock_diag", ["listening"]);
  const out = emptyPorts();
  addon.listening(PROTOCOL[proto], out);
  return out;
}
