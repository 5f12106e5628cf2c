/**
 * The kernel filter (pcap-filter(7) text) for the stealth and advanced modes. Pure.
 *
 * The kernel does the bulk: only packets *to this host's addresses* that look like probes to a
 * watched port reach the process. Established conversations (ACK or RST set), traffic to ports
 * with a local service (taken out of the watched set by the caller), broadcasts, multicasts,
 * forwarded and outgoing packets (destination not ours) cost the daemon nothing.
 *
 * Shape:
 *
 *   (ip dst host A or ...) and ( tcp4 probe to a watched port or udp4 to a watched port )
 *   or (ip src host A or ...) and tcp4 RST, SYN+ACK or SYN from a watched port
 *   or (ip src host A or ...) and (icmp port unreachable or udp4 from a watched port)
 *   or (ip6 dst host X or ...) and ( tcp6 probe ... or udp6 ... or an extension header )
 *   or (ip6 src host X or ...) and tcp6 RST, SYN+ACK or SYN from a watched port
 *   or (ip6 src host X or ...) and (icmp6 port unreachable or udp6 from a watched port)
 *
 * - IPv4 TCP: `tcp[13] & 0x14 = 0` (neither ACK nor RST). A first fragment with More Fragments
 *   set may be too short to hold the flags byte (nmap -f); a load past the end would make the
 *   whole filter reject it, so such fragments pass on their ports alone and the decoder counts
 *   them; a later fragment that starts within the first 64 bytes passes too (the rest of a
 *   split header: decode/fragments.ts puts it back together), later ones are rejected.
 * - IPv6: libpcap's `tcp[...]` offsets work for IPv4 only, so the fixed-offset fields are used
 *   (`ip6[6]` next header, `ip6[42:2]` destination port, `ip6[53]` TCP flags), valid when no
 *   extension header sits in between. Packets whose next header is an extension header
 *   (hop-by-hop 0, routing 43, fragment 44, destination options 60, AH 51) are passed to the
 *   process, where the decoder walks the chain and the same port and flag checks are applied.
 * - Our own replies: RST or SYN+ACK *from* this host's addresses *from* a watched TCP port, and
 *   ICMP port unreachable from this host's addresses. The kernel answers a TCP probe to a closed
 *   port with RST and one to a listener with SYN+ACK, a UDP probe to a closed port with ICMP
 *   port unreachable (rate-limited), microseconds later on the same ring: the capture engine
 *   pairs them, which tells exactly, at the moment of the probe, whether a service listened
 *   (no /proc read needed; see listener-gate.ts).
 * - Our own flows: a datagram or a SYN from this host *from* a watched port starts a flow whose
 *   answers are replies, not probes (own-flows.ts). Ports with a listener are not watched, so
 *   a service's traffic does not come through; a client's from a low port (NTP 123, a resolver
 *   query from 53 or another port below 1024) does, and is rare.
 * - Ports: a list of single ports and runs, or, when shorter, the span from the lowest to the
 *   highest port minus its holes (advanced mode: `p <= 1023 and not (p = 113 or p = 139)`).
 *
 * The result must stay far below the kernel's 4096-instruction limit: above it libpcap
 * silently falls back to filtering in user space, that is, every packet would be copied to us.
 * `MAX_FILTER_ADDRESSES` bounds the address lists; tests compile the 1.2 lists and advanced
 * mode with tcpdump and check the size.
 */

import { canonicalIp } from "../decode/address.js";
import { type PortRange, portRanges } from "../port-set.js";
import type { PortBitmap } from "../vocabulary.js";

/** Per family; a host with more local addresses than this is refused (message says so). */
export const MAX_FILTER_ADDRESSES = 256;

export interface FilterSpec {
  /** Watched TCP ports (listeners already taken out); undefined when no TCP mode runs. */
  readonly tcp: PortBitmap | undefined;
  readonly udp: PortBitmap | undefined;
  /** This host's addresses, canonical text. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  /** DETECT_ACK_SCANS: a TCP packet with ACK but no RST to a watched port is a probe too. */
  readonly ackScans: boolean;
}

export type FilterResult =
  | { readonly ok: true; readonly expression: string }
  | {
      readonly ok: false;
      /** Nothing to capture: no watched port left, or no local address yet. */
      readonly reason: "no-ports" | "no-addresses" | "too-many-addresses";
      readonly message: string;
    };

/** ACK (0x10) or RST (0x04): not a probe (spec §3); with DETECT_ACK_SCANS, RST only. */
const NOT_PROBE_FLAGS = "0x14";
const NOT_PROBE_FLAGS_ACK_SCANS = "0x04";
/**
 * A SYN without ACK from us from a watched port: a connection this host opens from a low port
 * (own-flows.ts remembers it, so the peer's segments are not taken for an ACK scan).
 */
const OWN_SYN_V4 = "(tcp[13] & 0x12) = 0x02";
const OWN_SYN_V6 = "(ip6[53] & 0x12) = 0x02";
/** SYN+ACK (0x12) or RST (0x04) from us: the kernel's verdict on a probe. */
const REPLY_V4 = "((tcp[13] & 0x04) != 0 or (tcp[13] & 0x12) = 0x12)";
const REPLY_V6 = "((ip6[53] & 0x04) != 0 or (ip6[53] & 0x12) = 0x12)";
/**
 * ICMP port unreachable from us: the kernel's verdict on a UDP probe (rate-limited by the kernel,
 * so it costs nothing under a flood; the decoder checks what it quotes).
 */
const UNREACHABLE_V4 = "ip[9] = 1 and icmp[0] = 3 and icmp[1] = 3";
const UNREACHABLE_V6 = "ip6[6] = 58 and ip6[40] = 1 and ip6[41] = 4";
/**
 * A later IPv4 fragment of TCP or UDP that starts within the first 64 bytes of the datagram's
 * payload: the rest of a header split by `nmap -f` / `--mtu 8` (decode/fragments.ts). Ordinary
 * fragmented datagrams' later parts start past 1 000 bytes and stay out.
 */
const LATER_HEAD_FRAGMENT_V4 =
  "((ip[9] = 6 or ip[9] = 17) and (ip[6:2] & 0x1fff) != 0 and (ip[6:2] & 0x1fff) < 8)";
/** IPv6 next-header values that are extension headers the decoder walks. */
const IPV6_EXTENSION_HEADERS = [0, 43, 44, 60, 51] as const;

export function buildFilter(spec: FilterSpec): FilterResult {
  const tcp = spec.tcp === undefined ? [] : portRanges(spec.tcp);
  const udp = spec.udp === undefined ? [] : portRanges(spec.udp);
  if (tcp.length === 0 && udp.length === 0) {
    return { ok: false, reason: "no-ports", message: "no watched port is left" };
  }
  const v4 = uniqueCanonical(spec.v4, 4);
  const v6 = uniqueCanonical(spec.v6, 6);
  if (v4.length === 0 && v6.length === 0) {
    return { ok: false, reason: "no-addresses", message: "this host has no address to watch yet" };
  }
  if (v4.length > MAX_FILTER_ADDRESSES || v6.length > MAX_FILTER_ADDRESSES) {
    return {
      ok: false,
      reason: "too-many-addresses",
      message: `more than ${MAX_FILTER_ADDRESSES} local addresses of one family`,
    };
  }

  const notProbe = spec.ackScans ? NOT_PROBE_FLAGS_ACK_SCANS : NOT_PROBE_FLAGS;
  const parts: string[] = [];
  if (v4.length > 0) {
    const probes: string[] = [];
    if (tcp.length > 0) {
      probes.push(
        `(ip[9] = 6 and ((ip[6] & 0x20) != 0 or (tcp[13] & ${notProbe}) = 0) and (${portTest("tcp[2:2]", tcp)}))`,
      );
    }
    if (udp.length > 0) probes.push(`(ip[9] = 17 and (${portTest("udp[2:2]", udp)}))`);
    probes.push(LATER_HEAD_FRAGMENT_V4);
    parts.push(`((${v4.map((a) => `ip dst host ${a}`).join(" or ")}) and (${probes.join(" or ")}))`);
    if (tcp.length > 0) {
      parts.push(
        `((${v4.map((a) => `ip src host ${a}`).join(" or ")}) and ip[9] = 6 and (${REPLY_V4} or ${OWN_SYN_V4}) and (${portTest("tcp[0:2]", tcp)}))`,
      );
    }
    if (udp.length > 0) {
      // Our port unreachable answers, and our datagrams from a watched port (a query whose
      // answer must not be taken for a probe: own-flows.ts).
      parts.push(
        `((${v4.map((a) => `ip src host ${a}`).join(" or ")}) and (${UNREACHABLE_V4} or (ip[9] = 17 and (${portTest("udp[0:2]", udp)}))))`,
      );
    }
  }
  if (v6.length > 0) {
    const probes: string[] = [];
    if (tcp.length > 0) {
      probes.push(`(ip6[6] = 6 and (ip6[53] & ${notProbe}) = 0 and (${portTest("ip6[42:2]", tcp)}))`);
    }
    if (udp.length > 0) probes.push(`(ip6[6] = 17 and (${portTest("ip6[42:2]", udp)}))`);
    probes.push(`(${IPV6_EXTENSION_HEADERS.map((h) => `ip6[6] = ${h}`).join(" or ")})`);
    parts.push(`((${v6.map((a) => `ip6 dst host ${a}`).join(" or ")}) and (${probes.join(" or ")}))`);
    if (tcp.length > 0) {
      parts.push(
        `((${v6.map((a) => `ip6 src host ${a}`).join(" or ")}) and ip6[6] = 6 and (${REPLY_V6} or ${OWN_SYN_V6}) and (${portTest("ip6[40:2]", tcp)}))`,
      );
    }
    if (udp.length > 0) {
      parts.push(
        `((${v6.map((a) => `ip6 src host ${a}`).join(" or ")}) and (${UNREACHABLE_V6} or (ip6[6] = 17 and (${portTest("ip6[40:2]", udp)}))))`,
      );
    }
  }
  return { ok: true, expression: parts.join(" or ") };
}

/**
 * A test of the 16-bit field `field` against the port runs: the list of runs, or the span
 * minus its holes, whichever needs fewer comparisons.
 */
export function portTest(field: string, ranges: readonly PortRange[]): string {
  const first = ranges[0];
  const last = ranges[ranges.length - 1];
  if (first === undefined || last === undefined) return "0 = 1";
  const holes: PortRange[] = [];
  for (let i = 1; i < ranges.length; i++) {
    holes.push({ from: ranges[i - 1]!.to + 1, to: ranges[i]!.from - 1 });
  }
  const listCost = cost(ranges);
  const span: PortRange = { from: first.from, to: last.to };
  const spanCost = cost([span]) + cost(holes);
  if (listCost <= spanCost) return ranges.map((r) => rangeTest(field, r)).join(" or ");
  const spanTest = rangeTest(field, span);
  return `${spanTest} and not (${holes.map((r) => rangeTest(field, r)).join(" or ")})`;
}

function cost(ranges: readonly PortRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.from === r.to ? 1 : (r.from === 0 ? 0 : 1) + (r.to === 65535 ? 0 : 1);
  return n;
}

function rangeTest(field: string, r: PortRange): string {
  if (r.from === r.to) return `${field} = ${r.from}`;
  if (r.from === 0 && r.to === 65535) return `${field} >= 0`;
  if (r.from === 0) return `${field} <= ${r.to}`;
  if (r.to === 65535) return `${field} >= ${r.from}`;
  return `(${field} >= ${r.from} and ${field} <= ${r.to})`;
}

/** Only canonical address text of the right family reaches the filter (no filter syntax). */
function uniqueCanonical(addresses: readonly string[], family: 4 | 6): string[] {
  const out = new Set<string>();
  for (const a of addresses) {
    const c = canonicalIp(a);
    if (c === undefined) continue;
    if (family === 4 ? c.includes(".") && !c.includes(":") : c.includes(":")) out.add(c);
  }
  return [...out].sort();
}
