/**
 * Stealth-mode scan classification (spec §4), with PortSentry 1.2's names.
 *
 * Pure. Only the six classic flags count; ECE and CWR are ignored, so an ECN-capable SYN
 * (SYN+ECE+CWR) is still a "TCP SYN/Normal scan". Results are precomputed for all 64 flag
 * combinations: classifying a packet allocates nothing.
 */

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** The six flags classification looks at. */
const CLASSIC_FLAGS = 0x3f;
const XMAS = TcpFlag.FIN | TcpFlag.PSH | TcpFlag.URG;

export type ScanKind = "null" | "xmas" | "fin" | "syn" | "ack" | "maimon" | "unknown" | "udp";

/** A classification: `kind` is stable for machines, `name` is the 1.2 log text. */
export interface ScanClass {
  readonly kind: ScanKind;
  readonly name: string;
}

export const UDP_SCAN: ScanClass = Object.freeze({ kind: "udp", name: "UDP scan" });

function bit(flags: number, flag: number): 0 | 1 {
  return (flags & flag) === 0 ? 0 : 1;
}

/** Spec §4, evaluated in order. XMAS means exactly FIN+PSH+URG among the six flags. */
function classifyUncached(flags: number): ScanClass {
  const f = flags & CLASSIC_FLAGS;
  if (f === 0) return { kind: "null", name: "TCP NULL scan" };
  if (f === XMAS) return { kind: "xmas", name: "TCP XMAS scan" };
  if (f === TcpFlag.FIN) return { kind: "fin", name: "TCP FIN scan" };
  if (f === TcpFlag.SYN) return { kind: "syn", name: "TCP SYN/Normal scan" };
  // Only with DETECT_ACK_SCANS (otherwise ACK is never a probe), with nmap's names. nmap's
  // Window scan (-sW) sends the very packet of its ACK scan (it reads the RST's window): on the
  // wire the two are one, "TCP ACK scan".
  if (f === TcpFlag.ACK) return { kind: "ack", name: "TCP ACK scan" };
  if (f === (TcpFlag.FIN | TcpFlag.ACK)) return { kind: "maimon", name: "TCP Maimon scan" };
  const name =
    `Unknown Type: TCP Packet Flags: SYN: ${bit(f, TcpFlag.SYN)} FIN: ${bit(f, TcpFlag.FIN)} ` +
    `ACK: ${bit(f, TcpFlag.ACK)} PSH: ${bit(f, TcpFlag.PSH)} URG: ${bit(f, TcpFlag.URG)} RST: ${bit(f, TcpFlag.RST)}`;
  return { kind: "unknown", name };
}

const BY_FLAGS: readonly ScanClass[] = Array.from({ length: CLASSIC_FLAGS + 1 }, (_, f) =>
  Object.freeze(classifyUncached(f)),
);

/** Classifies a TCP probe by its flags byte. */
export function classifyTcp(flags: number): ScanClass {
  return BY_FLAGS[flags & CLASSIC_FLAGS]!;
}

/**
 * Spec §3: a TCP packet with ACK or RST set belongs to an established conversation (or
 * answers one) and is not a hit.
 */
export function isProbe(flags: number): boolean {
  return (flags & (TcpFlag.ACK | TcpFlag.RST)) === 0;
}
