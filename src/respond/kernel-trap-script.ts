/**
 * KERNEL_TRAP="1" (spec §2, with KILL_FIREWALL="nftables"): the kernel itself drops the first
 * probe of a scanner to a trap port and puts its source into the blocked set, so that not one
 * answer leaves the host after that probe, however fast the scan. The daemon learns of each
 * kernel block through NFLOG (sensors/kernel-trap-sensor.ts) and records it like its own.
 *
 * The trap lives in the nftables responder's table (nftables.ts), beside its `prerouting`
 * chain, which it never touches but re-declares identically (the same transaction text) so
 * that either may come first:
 *
 *   table inet portsentry {
 *     set blocked4/blocked6            the responder's sets; the trap adds to them
 *     set protect4/protect6 { type ipv4_addr; flags interval; }   never trapped: the ignore
 *                                  list with loopback (set at start and on SIGHUP)
 *     set hosts4/hosts6 { ... flags interval; }   never trapped: this host's addresses, its
 *                                  networks' broadcast addresses, default gateways, name servers
 *                                  (followed every few seconds)
 *     set trap_tcp_ports / trap_udp_ports { type inet_service; flags interval; }
 *     set grace_tcp_ports / grace_udp_ports { type inet_service; flags dynamic, timeout; }
 *                                  LISTEN_GRACE: ports a socket owned lately (advanced modes)
 *     limit trap_limit { rate N/minute burst N packets }  one bucket for every trap rule
 *     set tally_over_limit { type inet_proto; counter; }  probes the limit let through (the
 *                                  element counters of tcp and udp: see TALLY_SET_TYPE)
 *     chain prerouting  (priority -300, the responder's): ip saddr @blocked4 drop ...
 *     chain trap {      (priority -150: after conntrack at -200, before DNAT at -100)
 *       type filter hook prerouting priority -150; policy accept;
 *       tcp flags & (ack | rst) == 0 tcp dport @trap_tcp_ports jump trap_tcp
 *       meta l4proto udp udp dport @trap_udp_ports jump trap_udp
 *     }
 *     chain trap_tcp {
 *       meta iiftype loopback return
 *       ct state established,related return    a flow the host knows: never a probe
 *       ct state invalid tcp flags & syn == syn return   bad checksum: the daemon's path
 *                                                (trap_udp: ct state invalid return)
 *       fib daddr type != local return           only probes to this host's addresses
 *       socket transparent { 0, 1 } return      a local socket owns the port: a real service
 *                    (advanced modes with LISTEN_GRACE: `... update @grace_tcp_ports
 *                    { tcp dport timeout G } return`, then `tcp dport @grace_tcp_ports return`)
 *       ip saddr { 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4 } return   never a scanner's
 *       ip6 saddr { ::, ::1, ::ffff:0:0/96, ff00::/8 } return                  (NEVER_TRAPPED_*)
 *       ip saddr @protect4 return                ip6 saddr @protect6 return
 *       ip saddr @hosts4 return                  ip6 saddr @hosts6 return
 *       meta nfproto ipv4 limit name "trap_limit" add @blocked4 { ip saddr timeout 1d }
 *           log prefix "portsentry:stcp" group G snaplen 256 queue-threshold 1 drop
 *       meta nfproto ipv6 ... add @blocked6 { ip6 saddr timeout 1d } log ... drop
 *       meta l4proto @tally_over_limit          past the limit: exact total, on unblocked
 *       limit name "trap_report_limit" log prefix "portsentry:over:stcp" group G ...
 *                                                a sample of them to the daemon, which judges it
 *     }
 *     chain trap_udp { the same for UDP }
 *   }
 *
 * A log-only mode (BLOCK_*="0", `KernelMode.observe`) has the same chain up to the never-trapped
 * sources, then counts (`tally_probes`) and reports instead of trapping (`observeRules`): nothing
 * is dropped, and the daemon only logs.
 *
 * Why a base chain of its own at -150 and not a jump from `prerouting`: the responder flushes
 * and refills its chain at every start, which would drop a jump; a second base chain needs no
 * cooperation, and a drop at -300 is final, so a blocked host never reaches the trap.
 *
 * Why after connection tracking (measured on Linux 6.18 in a namespace, see docs/operations.md
 * "The kernel trap and connection tracking"):
 * - Replies are not probes. A UDP answer to the host's own query (NTP from port 123, DNS to
 *   an ephemeral port below 1024), in time or late while conntrack keeps the entry (30 s
 *   after the flow's last packet, 120 s for a longer one), and any segment of a connection
 *   the host has, are `established`: never trapped, whether or not the client still listens.
 * - Fragments: conntrack brings defragmentation (-400), so the trap sees the whole TCP or UDP
 *   header (nmap -f, --mtu 8, -ff) and blocks with the right port. A tiny IPv6 first fragment
 *   without the whole TCP header (nmap -6 -f) is dropped by reassembly (RFC 7112): unanswered.
 * - Checksums: conntrack verifies them in prerouting; a bad one is `invalid` (see
 *   `connectionRules`). A valid SYN or a bare ACK is `new`; FIN, NULL, Xmas, FIN/ACK `invalid`.
 * - Cost: a `ct` expression turns conntrack (and defragmentation) on in the namespace, for all
 *   of its traffic, if nothing had (nft loads nf_conntrack itself). A trapped probe is dropped
 *   before its entry is confirmed: it leaves nothing in the table. A probe past the limit
 *   that reaches the stack leaves one entry (256-byte slab object; TCP closed 10 s, UDP 30 s),
 *   bounded by nf_conntrack_max like every other flow of the host.
 * - `notrack`: an untracked packet is neither established nor invalid; the trap judges it as
 *   before (socket check only), so an operator who exempts traffic from conntrack loses the
 *   reply knowledge for it.
 *
 * The socket check: nft's `socket` expression looks the packet up in the host's socket tables
 * (established, then listening; for UDP the bound sockets) and does not match when none owns
 * it. Any socket, transparent or not, means a real service: the probe goes on to it. This is
 * per packet, so a service started after the trap is never a trap (spec §3, "inverse binding").
 *
 * NFLOG volume: only the first probe of a source reaches the `log` (later ones die at -300),
 * and only while the limit has tokens: at most `burst` messages at once and N a minute after.
 * Past the limit, probes fall through to the host's stack unblocked; the kernel counts every one
 * (`tally_over_limit`) and reports up to `overLimitReportsPerSec` of them through NFLOG with their
 * own prefix, so that the daemon logs and judges them (a real scanner during a forged flood)
 * while a flood costs it a bounded number of reports. The capture does not watch the ports of
 * the kernel's modes, so each probe reaches the daemon once: trapped or reported, never both.
 *
 * What the kernel cannot express is left to userspace, mode by mode: see `kernelTrapPlan`
 * (policy/kernel-trap-plan.ts). This file builds the `nft -f` transactions, pure text; running
 * them is respond/kernel-trap.ts.
 */

import type { IpPrefix } from "../config/ignore.js";
import { formatIpv4, formatIpv6, type IpFamily, parseIp } from "../decode/address.js";
import { againPrefix, overLimitPrefix, seenPrefix, trapPrefix } from "../kernel-trap-names.js";
import type { KernelMode } from "../policy/kernel-trap-plan.js";
import { portRanges } from "../port-set.js";
import {
  isValidNftTableName,
  NFT_MAX_TIMEOUT_SEC,
  NFT_SET4,
  NFT_SET6,
  nftDuration,
  PROBATION_SET4,
  PROBATION_SET6,
} from "./nftables.js";

/**
 * After connection tracking (-200, with defragmentation at -400 before it): the trap judges
 * reassembled packets and knows the host's own flows. Before destination NAT (-100): the
 * address judged is the one the probe was sent to. The blocked-set drop stays at -300.
 */
export const TRAP_PRIORITY = -150;
export const TRAP_CHAIN = "trap";
export const TRAP_TCP_CHAIN = "trap_tcp";
export const TRAP_UDP_CHAIN = "trap_udp";
export const PROTECT_SET4 = "protect4";
export const PROTECT_SET6 = "protect6";
export const HOSTS_SET4 = "hosts4";
export const HOSTS_SET6 = "hosts6";
export const TRAP_TCP_PORTS = "trap_tcp_ports";
export const TRAP_UDP_PORTS = "trap_udp_ports";
export const GRACE_TCP_PORTS = "grace_tcp_ports";
export const GRACE_UDP_PORTS = "grace_udp_ports";
export const TRAP_LIMIT = "trap_limit";
/**
 * The trap's exact totals are the element counters of small sets (`tcp` and `udp`, matched by
 * `meta l4proto @set`), not named counters: `nft list counter` loads every set's elements first
 * (nft 1.0.6: 1.9 s and 170 MB for one probation set of 262 144), where `nft list set` of a
 * small set reads only that set. A flood fills the probation sets; status and /metrics must
 * still answer at once.
 */
export const TALLY_SET_TYPE = "{ type inet_proto; counter; }";
/** Probes past the block limit (or a full probation set): exact, reported or not. */
export const TRAP_OVER_LIMIT = "tally_over_limit";
export const TRAP_REPORT_LIMIT = "trap_report_limit";
/** PROBATION_TIMEOUT: sources the trap put on probation (exact, reported or not). */
export const TRAP_PROBATIONS = "tally_probations";
/** Log-only modes: every probe the kernel judged (exact, reported or not). */
export const TRAP_PROBES = "tally_probes";
/** PROBATION_TIMEOUT: probes from sources on probation (repeats), reported or not. */
export const TRAP_REPEATS = "tally_repeats";
const TALLY_SETS = [TRAP_OVER_LIMIT, TRAP_PROBATIONS, TRAP_PROBES, TRAP_REPEATS] as const;
/** Named counters of earlier versions, removed when the trap is armed or disarmed. */
const LEGACY_COUNTERS = ["trap_over_limit", "trap_probations"] as const;
/** Log-only modes: reports of probes from sources not seen lately. */
export const TRAP_SEEN_LIMIT = "trap_seen_limit";
/** Log-only modes: sources seen lately, whose next probes go through the other reports' bucket. */
export const SEEN_SET4 = "seen4";
export const SEEN_SET6 = "seen6";
/**
 * Elements of each seen set (~100 bytes each in the kernel). Full, a probe from a new source
 * is still counted and goes to the shared reports' bucket; the sets' timeout frees places, so
 * a scanner gets one within moments even under a flood.
 */
export const SEEN_SET_SIZE = 65536;
/**
 * Sources never trapped whatever the host (decode/address.ts `neverBlockable`): unspecified,
 * loopback, multicast, 240/4 with the broadcast address; for IPv6 also IPv4-mapped. A probe
 * "from" one is forged, and blocking `::` would drop other hosts' duplicate-address detection.
 * The host's own networks' broadcast addresses come with its addresses (`hosts4`).
 */
export const NEVER_TRAPPED_V4 = ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"] as const;
export const NEVER_TRAPPED_V6 = ["::", "::1", "::ffff:0:0/96", "ff00::/8"] as const;
/** Default NFLOG group; groups are per network namespace. */
export const DEFAULT_NFLOG_GROUP = 31337;
/** Bytes of each trapped packet copied to NFLOG: IPv6 + extension headers + TCP header. */
export const DEFAULT_LOG_SNAPLEN = 256;

// ---------------------------------------------------------------------------------------------
// The nft transactions (pure text)

export interface KernelTrapSpec {
  /** The nftables responder's table (family inet). */
  readonly table: string;
  readonly group: number;
  /** At most one TCP and one UDP mode. */
  readonly modes: readonly KernelMode[];
  /** Element timeout of a kernel block; 0 = none (also used past the kernel's range). */
  readonly timeoutSec: number;
  /** New kernel blocks a minute (and the burst); 0 = unlimited. */
  readonly maxBlocksPerMinute: number;
  /** `-i` interfaces; empty: every interface but loopback. */
  readonly interfaces: readonly string[];
  /** `size` of the responder's sets: must equal the responder's (nftables.ts) to stay compatible. */
  readonly maxSetElements: number;
  readonly logSnapLength: number;
  /**
   * DETECT_ACK_SCANS: ACK-bearing TCP without RST is a probe too (nmap -sA -sW -sM). Only
   * packets of no connection the host knows reach the trap (`connectionRules`). Absent: no.
   */
  readonly ackScans?: boolean;
  /**
   * LISTEN_GRACE in the advanced modes: a port a local socket owned (traffic to a listener)
   * stays out of the trap this long after. 0 or absent: no grace.
   */
  readonly graceSec?: number;
  /** NFLOG reports a second of probes let through past the block limit; 0 = none. */
  readonly overLimitReportsPerSec: number;
  /**
   * PROBATION_TIMEOUT: a first probe puts its source into the responder's probation sets for
   * this long (not into the blocked sets), and its next probe is reported as a repeat. 0 or
   * absent: the first probe blocks (`timeoutSec`, `maxBlocksPerMinute`).
   */
  readonly probationSec?: number;
  /** NFLOG reports a second of new probations (the rest are counted in the kernel only); 0: all. */
  readonly probationReportsPerSec?: number;
  /**
   * Log-only modes (`KernelMode.observe`): NFLOG reports a second of probes from sources not
   * seen lately; other probes share the over-limit reports' bucket. Both count past it.
   */
  readonly seenReportsPerSec?: number;
  /** Log-only modes: how long a source stays seen (its next probes are repeats). */
  readonly seenSec?: number;
}

export type SpecCheck = { readonly ok: true } | { readonly ok: false; readonly error: string };

export function checkSpec(spec: KernelTrapSpec): SpecCheck {
  if (!isValidNftTableName(spec.table)) return { ok: false, error: `bad table name ${spec.table}` };
  if (!Number.isInteger(spec.group) || spec.group < 0 || spec.group > 65535)
    return { ok: false, error: `NFLOG group ${spec.group} is not 0-65535` };
  const tcp = spec.modes.filter((m) => m.mode === "stcp" || m.mode === "atcp");
  const udp = spec.modes.filter((m) => m.mode === "sudp" || m.mode === "audp");
  if (tcp.length > 1 || udp.length > 1) return { ok: false, error: "at most one TCP and one UDP mode" };
  if (!Number.isInteger(spec.timeoutSec) || spec.timeoutSec < 0)
    return { ok: false, error: `bad timeout ${spec.timeoutSec}` };
  if (spec.graceSec !== undefined && (!Number.isInteger(spec.graceSec) || spec.graceSec < 0))
    return { ok: false, error: `bad grace ${spec.graceSec}` };
  if (!Number.isInteger(spec.maxBlocksPerMinute) || spec.maxBlocksPerMinute < 0)
    return { ok: false, error: `bad block rate ${spec.maxBlocksPerMinute}` };
  for (const name of spec.interfaces)
    if (!isSafeInterfaceName(name))
      return { ok: false, error: `interface name ${JSON.stringify(name)} refused` };
  if (!Number.isInteger(spec.overLimitReportsPerSec) || spec.overLimitReportsPerSec < 0)
    return { ok: false, error: `bad over-limit report rate ${spec.overLimitReportsPerSec}` };
  const probation = spec.probationSec ?? 0;
  if (!Number.isInteger(probation) || probation < 0 || probation > NFT_MAX_TIMEOUT_SEC)
    return { ok: false, error: `bad probation ${probation}` };
  const reports = spec.probationReportsPerSec ?? 0;
  if (!Number.isInteger(reports) || reports < 0)
    return { ok: false, error: `bad probation report rate ${reports}` };
  // A repeat offence reaches the daemon through the over-limit reports' bucket.
  if (probation > 0 && spec.overLimitReportsPerSec <= 0)
    return { ok: false, error: "probation needs over-limit reports (the repeats go through them)" };
  if (spec.modes.some((m) => m.observe === true)) {
    const seen = spec.seenReportsPerSec ?? 0;
    const seenSec = spec.seenSec ?? 0;
    if (!Number.isInteger(seen) || seen <= 0) return { ok: false, error: `bad seen report rate ${seen}` };
    if (!Number.isInteger(seenSec) || seenSec <= 0 || seenSec > NFT_MAX_TIMEOUT_SEC)
      return { ok: false, error: `bad seen timeout ${seenSec}` };
    // A seen source's next probes reach the daemon through the over-limit reports' bucket.
    if (spec.overLimitReportsPerSec <= 0)
      return { ok: false, error: "a log-only mode needs over-limit reports (repeats go through them)" };
  }
  if (!Number.isInteger(spec.logSnapLength) || spec.logSnapLength < 64 || spec.logSnapLength > 65535)
    return { ok: false, error: `bad NFLOG snap length ${spec.logSnapLength}` };
  return { ok: true };
}

/** Interface names that can go between nft's double quotes as they are. */
export function isSafeInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.@+-]{1,15}$/.test(name);
}

/**
 * One `nft -f` transaction that creates or replaces the whole trap: its sets, limit, counter
 * and chains, flushed and refilled. Running it twice leaves the same ruleset (restart,
 * SIGHUP); a mode dropped from the spec loses its rules in the same transaction.
 *
 * It must run after the responder's own transaction (`nftSetupLine`), never together with it:
 * nft marks a set created in the same transaction as a rule that adds to it `dynamic`, and
 * the responder's next `add set ... { flags timeout; }` then fails with "File exists". A set
 * that already exists is used as it is.
 */
export function kernelTrapScript(
  spec: KernelTrapSpec,
  protect: ProtectedRanges,
  hosts: ProtectedRanges = { v4: [], v6: [] },
): string {
  const t = `inet ${spec.table}`;
  const out: string[] = [`add table ${t}`];
  out.push(
    `add set ${t} ${PROTECT_SET4} { type ipv4_addr; flags interval; }`,
    `add set ${t} ${PROTECT_SET6} { type ipv6_addr; flags interval; }`,
    `add set ${t} ${HOSTS_SET4} { type ipv4_addr; flags interval; }`,
    `add set ${t} ${HOSTS_SET6} { type ipv6_addr; flags interval; }`,
    `add set ${t} ${TRAP_TCP_PORTS} { type inet_service; flags interval; }`,
    `add set ${t} ${TRAP_UDP_PORTS} { type inet_service; flags interval; }`,
    // Never flushed: a reload keeps the ports in their grace. `dynamic` as the rules need it
    // (declared, so that the next run's `add set` matches the set as it is).
    ...GRACE_SETS.map((set) => `add set ${t} ${set} ${GRACE_SET_TYPE}`),
    ...SEEN_SETS.map((set) => `add set ${t} ${set.name} ${seenSetType(set.type)}`),
    ...TALLY_SETS.flatMap((set) => [
      `add set ${t} ${set} ${TALLY_SET_TYPE}`,
      `add element ${t} ${set} { tcp, udp }`,
    ]),
    // Emptied first: the rules below are the only ones (idempotent), and nothing refers to
    // the limit while it is replaced (a changed rate takes effect).
    ...emptyTrapChains(t),
    ...LEGACY_COUNTERS.flatMap((c) => [`add counter ${t} ${c}`, `delete counter ${t} ${c}`]),
    ...replaceLimit(t, TRAP_LIMIT),
    ...replaceLimit(t, TRAP_REPORT_LIMIT),
    ...replaceLimit(t, TRAP_SEEN_LIMIT),
  );
  const observing = spec.modes.some((m) => m.observe === true);
  const probationSec = spec.probationSec ?? 0;
  // With probation the one limit is on the reports of new probations, not on the bans.
  const limited = probationSec > 0 ? (spec.probationReportsPerSec ?? 0) > 0 : spec.maxBlocksPerMinute > 0;
  if (probationSec > 0 && limited) {
    const n = spec.probationReportsPerSec ?? 0;
    out.push(`add limit ${t} ${TRAP_LIMIT} { rate ${n}/second burst ${n} packets }`);
  } else if (limited) {
    const n = spec.maxBlocksPerMinute;
    out.push(`add limit ${t} ${TRAP_LIMIT} { rate ${n}/minute burst ${n} packets }`);
  }
  const reported = (limited || probationSec > 0 || observing) && spec.overLimitReportsPerSec > 0;
  if (reported) {
    const n = spec.overLimitReportsPerSec;
    out.push(`add limit ${t} ${TRAP_REPORT_LIMIT} { rate ${n}/second burst ${n} packets }`);
  }
  if (observing) {
    const n = spec.seenReportsPerSec ?? 0;
    out.push(`add limit ${t} ${TRAP_SEEN_LIMIT} { rate ${n}/second burst ${n} packets }`);
  }
  out.push(...replaceLines(spec.table, PROTECT_SET4, PROTECT_SET6, protect));
  out.push(...replaceLines(spec.table, HOSTS_SET4, HOSTS_SET6, hosts));
  for (const [proto, setName, chain] of [
    ["tcp", TRAP_TCP_PORTS, TRAP_TCP_CHAIN],
    ["udp", TRAP_UDP_PORTS, TRAP_UDP_CHAIN],
  ] as const) {
    const mode = spec.modes.find((m) => (proto === "tcp") === (m.mode === "stcp" || m.mode === "atcp"));
    out.push(`flush set ${t} ${setName}`);
    const ranges = mode ? portRanges(mode.ports) : [];
    if (mode === undefined || ranges.length === 0) continue;
    const elements = ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`));
    out.push(`add element ${t} ${setName} { ${elements.join(", ")} }`);
    const match =
      proto === "tcp"
        ? `${tcpProbeFlags(spec.ackScans === true)} tcp dport @${setName}`
        : `meta l4proto udp udp dport @${setName}`;
    out.push(`add rule ${t} ${TRAP_CHAIN} ${match} jump ${chain}`);
    const rule = (r: string) => out.push(`add rule ${t} ${chain} ${r}`);
    rule("meta iiftype loopback return");
    for (const r of connectionRules(proto)) rule(r);
    if (spec.interfaces.length > 0)
      rule(`iifname != { ${spec.interfaces.map((i) => `"${i}"`).join(", ")} } return`);
    rule("fib daddr type != local return");
    for (const r of socketRules(
      proto,
      mode.mode === "atcp" || mode.mode === "audp" ? (spec.graceSec ?? 0) : 0,
    ))
      rule(r);
    // A log-only mode counts every probe, from whomever: the never-trapped sources below too,
    // as the daemon's own path counts their hits (#17: counts exact).
    if (mode.observe === true) rule(tally(TRAP_PROBES));
    rule(`ip saddr { ${NEVER_TRAPPED_V4.join(", ")} } return`);
    rule(`ip6 saddr { ${NEVER_TRAPPED_V6.join(", ")} } return`);
    rule(`ip saddr @${PROTECT_SET4} return`);
    rule(`ip6 saddr @${PROTECT_SET6} return`);
    rule(`ip saddr @${HOSTS_SET4} return`);
    rule(`ip6 saddr @${HOSTS_SET6} return`);
    const limit = limited ? `limit name "${TRAP_LIMIT}" ` : "";
    // queue-threshold 1: each message goes to the reader at once (the kernel's default batches
    // up to 100 of them for up to a second).
    const log = (prefix: string) =>
      `log prefix "${prefix}" group ${spec.group} snaplen ${spec.logSnapLength} queue-threshold 1`;
    if (mode.observe === true) {
      for (const r of observeRules(mode.mode, spec.seenSec ?? 0, log)) rule(r);
      continue;
    }
    const trapLog = log(trapPrefix(mode.mode));
    if (probationSec > 0) {
      for (const r of probationRules(mode.mode, probationSec, limit, log)) rule(r);
    } else {
      const timeout = elementTimeout(spec.timeoutSec);
      rule(`meta nfproto ipv4 ${limit}add @${NFT_SET4} { ip saddr${timeout} } ${trapLog} drop`);
      rule(`meta nfproto ipv6 ${limit}add @${NFT_SET6} { ip6 saddr${timeout} } ${trapLog} drop`);
    }
    rule(tally(TRAP_OVER_LIMIT));
    // Past the block limit the probe goes on unblocked; the daemon hears of it here (the
    // capture does not watch the kernel's modes), at a bounded rate.
    if (reported) rule(`limit name "${TRAP_REPORT_LIMIT}" ${log(overLimitPrefix(mode.mode))}`);
    // With probation the only limit is the sets' size: a probe past it is still dropped (a trap
    // port has no answer anyone needs), so a flood that fills the sets opens no door to a scan.
    if (probationSec > 0) rule("drop");
  }
  return `${out.join("\n")}\n`;
}

/**
 * PROBATION_TIMEOUT (#14): a probe from a source on probation is a repeat, counted
 * (`tally_repeats`), reported (at the over-limit reports' rate) and dropped; a new source goes on probation for `probationSec`,
 * counted in the kernel, reported up to `limit` (past it dropped all the same), and dropped.
 * A full probation set refuses the add: the probe falls through to the over-limit rules, which
 * count and report it and, with probation, drop it unbanned.
 */
export function probationRules(
  mode: KernelMode["mode"],
  probationSec: number,
  limit: string,
  log: (prefix: string) => string,
): string[] {
  const timeout = nftDuration(probationSec);
  const out: string[] = [];
  for (const [fam, addr, set] of [
    ["ipv4", "ip", PROBATION_SET4],
    ["ipv6", "ip6", PROBATION_SET6],
  ] as const) {
    out.push(
      `${addr} saddr @${set} ${tally(TRAP_REPEATS)} limit name "${TRAP_REPORT_LIMIT}" ${log(againPrefix(mode))} drop`,
      `${addr} saddr @${set} drop`,
      `meta nfproto ${fam} add @${set} { ${addr} saddr timeout ${timeout} } ${tally(TRAP_PROBATIONS)} ${limit}${log(trapPrefix(mode))} drop`,
      `${addr} saddr @${set} drop`,
    );
  }
  return out;
}

/**
 * A log-only mode (BLOCK_*="0", `KernelMode.observe`): the kernel drops nothing. It has
 * counted every probe (`tally_probes`, exact, before the never-trapped sources) and reports a
 * bounded rate of them to the daemon, which logs them: a source not seen lately through its own bucket (`trap_seen_limit`), the next
 * probes of a seen source through the shared reports' bucket. Under a forged flood from random
 * sources, a scanner's second probe then competes only with the flood's rare repeats, not
 * with the flood. A full seen set refuses the add: the probe is counted and sampled through
 * the shared bucket; the sets' timeout frees places all the time, so a scanner gets one.
 */
export function observeRules(
  mode: KernelMode["mode"],
  seenSec: number,
  log: (prefix: string) => string,
): string[] {
  const seen = log(seenPrefix(mode));
  const out: string[] = [];
  for (const [fam, addr, set] of [
    ["ipv4", "ip", SEEN_SET4],
    ["ipv6", "ip6", SEEN_SET6],
  ] as const) {
    out.push(
      `${addr} saddr @${set} limit name "${TRAP_REPORT_LIMIT}" ${seen} return`,
      `${addr} saddr @${set} return`,
      `meta nfproto ${fam} add @${set} { ${addr} saddr timeout ${nftDuration(seenSec)} } limit name "${TRAP_SEEN_LIMIT}" ${seen} return`,
      `${addr} saddr @${set} return`,
    );
  }
  out.push(`limit name "${TRAP_REPORT_LIMIT}" ${seen}`);
  return out;
}

const SEEN_SETS = [
  { name: SEEN_SET4, type: "ipv4_addr" },
  { name: SEEN_SET6, type: "ipv6_addr" },
] as const;
function seenSetType(type: string): string {
  return `{ type ${type}; size ${SEEN_SET_SIZE}; flags dynamic, timeout; }`;
}

/**
 * The TCP packets the trap judges. The stealth modes' definition of a probe (spec §3): no ACK,
 * no RST. With DETECT_ACK_SCANS also ACK-bearing ones without RST: an established connection's
 * ACKs return at `ct state established,related`; a bare ACK conntrack does not know is `new`
 * (picked up loosely), a FIN/ACK or a Maimon probe `invalid` without SYN: both trapped.
 */
export function tcpProbeFlags(ackScans: boolean): string {
  return ackScans ? "tcp flags & rst == 0" : "tcp flags & (ack | rst) == 0";
}

const GRACE_SETS = [GRACE_TCP_PORTS, GRACE_UDP_PORTS] as const;

/**
 * Puts ports that listen now into their grace, or restarts it (the daemon's feed: at start, on
 * SIGHUP and every LISTEN_GRACE/2, so that a service nobody used lately is covered too). An
 * element's timeout is set when it is added, so each goes in, out and in again: one
 * transaction, no moment without it. Empty when there is nothing to do.
 */
export function graceScript(
  table: string,
  ports: { readonly tcp: readonly number[]; readonly udp: readonly number[] },
  graceSec: number,
): string {
  if (graceSec <= 0) return "";
  const t = `inet ${table}`;
  const timeout = nftDuration(Math.min(graceSec, NFT_MAX_TIMEOUT_SEC));
  const out: string[] = [];
  for (const [set, list] of [
    [GRACE_TCP_PORTS, ports.tcp],
    [GRACE_UDP_PORTS, ports.udp],
  ] as const) {
    if (list.length === 0) continue;
    const timed = list.map((p) => `${p} timeout ${timeout}`).join(", ");
    out.push(
      `add element ${t} ${set} { ${timed} }`,
      `delete element ${t} ${set} { ${list.join(", ")} }`,
      `add element ${t} ${set} { ${timed} }`,
    );
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
const GRACE_SET_TYPE = "{ type inet_service; flags dynamic, timeout; }";

/**
 * The socket check (a local socket owns the port: a real service), and LISTEN_GRACE in the
 * advanced modes: the port a socket owned goes into the grace set for `graceSec` (refreshed by
 * every packet to it), and a probe to a port in its grace is not trapped. A service restarting,
 * or a SYN retransmitted to one that just stopped, is then no scan (#14).
 */
export function socketRules(proto: "tcp" | "udp", graceSec: number): readonly string[] {
  if (graceSec <= 0) return ["socket transparent { 0, 1 } return"];
  const set = proto === "tcp" ? GRACE_TCP_PORTS : GRACE_UDP_PORTS;
  const timeout = nftDuration(Math.min(graceSec, NFT_MAX_TIMEOUT_SEC));
  return [
    `socket transparent { 0, 1 } update @${set} { ${proto} dport timeout ${timeout} } return`,
    `${proto} dport @${set} return`,
  ];
}

/**
 * What connection tracking tells the trap, before any other check (see the header):
 * - a packet of a flow the host knows (a reply to its own query, a segment of a connection it
 *   has, an ICMP-related one) is never a probe;
 * - `invalid` is also what a bad TCP or UDP checksum gets (nf_conntrack_checksum=1, the
 *   default; the stack would discard the packet): such a UDP datagram or TCP SYN is left to
 *   the daemon's own path, which counts it apart. FIN, NULL and Xmas probes are `invalid` too
 *   (flag combinations conntrack refuses), so for TCP only the SYN-bearing ones return.
 */
export function connectionRules(proto: "tcp" | "udp"): readonly string[] {
  return [
    "ct state established,related return",
    proto === "tcp" ? "ct state invalid tcp flags & syn == syn return" : "ct state invalid return",
  ];
}

/** Counts the packet in the tally set `set` (its element for the packet's protocol). */
function tally(set: string): string {
  return `meta l4proto @${set}`;
}

function elementTimeout(timeoutSec: number): string {
  return timeoutSec > 0 && timeoutSec <= NFT_MAX_TIMEOUT_SEC ? ` timeout ${nftDuration(timeoutSec)}` : "";
}

/**
 * Replaces the content of a pair of never-trapped sets (`protect4/6` or `hosts4/6`) in one
 * transaction: there is no moment with an empty set.
 */
export function replaceSetsScript(
  table: string,
  set4: string,
  set6: string,
  ranges: ProtectedRanges,
): string {
  return `${replaceLines(table, set4, set6, ranges).join("\n")}\n`;
}

function replaceLines(table: string, set4: string, set6: string, protect: ProtectedRanges): string[] {
  const t = `inet ${table}`;
  const out: string[] = [];
  for (const [set, ranges] of [
    [set4, protect.v4],
    [set6, protect.v6],
  ] as const) {
    out.push(`flush set ${t} ${set}`);
    // Long lists go in chunks: one huge command line is slow to parse.
    for (let i = 0; i < ranges.length; i += 4096) {
      out.push(`add element ${t} ${set} { ${ranges.slice(i, i + 4096).join(", ")} }`);
    }
  }
  return out;
}

/** Deletes a named limit, created first if missing so that the delete cannot fail. */
function replaceLimit(t: string, name: string): string[] {
  return [`add limit ${t} ${name} { rate 1/minute burst 1 packets }`, `delete limit ${t} ${name}`];
}

/** The trap's three chains, created if missing and emptied (`t` is "inet TABLE"). */
function emptyTrapChains(t: string): string[] {
  return [
    `add chain ${t} ${TRAP_CHAIN} { type filter hook prerouting priority ${TRAP_PRIORITY}; policy accept; }`,
    `add chain ${t} ${TRAP_TCP_CHAIN}`,
    `add chain ${t} ${TRAP_UDP_CHAIN}`,
    `flush chain ${t} ${TRAP_CHAIN}`,
    `flush chain ${t} ${TRAP_TCP_CHAIN}`,
    `flush chain ${t} ${TRAP_UDP_CHAIN}`,
  ];
}

/**
 * Removes the trap (chains, its sets, limit and counter) and leaves the table, the blocked
 * sets and their blocks: the daemon's stop, so that no block happens while nobody records it.
 */
export function disarmScript(table: string): string {
  const t = `inet ${table}`;
  const lines = [
    `add table ${t}`,
    // Created if missing and emptied, so that the deletes below cannot fail.
    ...emptyTrapChains(t),
    `delete chain ${t} ${TRAP_CHAIN}`,
    `delete chain ${t} ${TRAP_TCP_CHAIN}`,
    `delete chain ${t} ${TRAP_UDP_CHAIN}`,
    ...replaceLimit(t, TRAP_LIMIT),
    ...replaceLimit(t, TRAP_REPORT_LIMIT),
    ...replaceLimit(t, TRAP_SEEN_LIMIT),
    ...LEGACY_COUNTERS.flatMap((c) => [`add counter ${t} ${c}`, `delete counter ${t} ${c}`]),
  ];
  for (const [set, type] of [
    [PROTECT_SET4, "ipv4_addr"],
    [PROTECT_SET6, "ipv6_addr"],
    [HOSTS_SET4, "ipv4_addr"],
    [HOSTS_SET6, "ipv6_addr"],
    [TRAP_TCP_PORTS, "inet_service"],
    [TRAP_UDP_PORTS, "inet_service"],
  ] as const) {
    lines.push(`add set ${t} ${set} { type ${type}; flags interval; }`, `delete set ${t} ${set}`);
  }
  for (const set of GRACE_SETS) lines.push(`add set ${t} ${set} ${GRACE_SET_TYPE}`, `delete set ${t} ${set}`);
  for (const set of SEEN_SETS)
    lines.push(`add set ${t} ${set.name} ${seenSetType(set.type)}`, `delete set ${t} ${set.name}`);
  for (const set of TALLY_SETS) lines.push(`add set ${t} ${set} ${TALLY_SET_TYPE}`, `delete set ${t} ${set}`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Protected prefixes → disjoint ranges (pure)

/** nft element texts (`a`, `a-b`), sorted, disjoint, non-adjacent: what an interval set takes. */
export interface ProtectedRanges {
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/** The host addresses `addresses` (own, gateways, name servers) as /32 and /128 prefixes. */
export function hostPrefixes(addresses: Iterable<string>): IpPrefix[] {
  const out: IpPrefix[] = [];
  for (const text of addresses) {
    const ip = parseIp(text);
    if (ip !== undefined) out.push({ family: ip.family, bytes: ip.bytes, bits: ip.family === 4 ? 32 : 128 });
  }
  return out;
}

/**
 * Merges prefixes into the element list of an interval set: overlapping or adjacent networks
 * become one range (nft refuses overlapping elements without auto-merge).
 */
export function mergePrefixes(prefixes: readonly IpPrefix[]): ProtectedRanges {
  return { v4: mergeFamily(prefixes, 4), v6: mergeFamily(prefixes, 6) };
}

function mergeFamily(prefixes: readonly IpPrefix[], family: IpFamily): string[] {
  const width = family === 4 ? 32 : 128;
  const ranges: [bigint, bigint][] = [];
  for (const p of prefixes) {
    if (p.family !== family || p.bytes.length !== width / 8 || p.bits < 0 || p.bits > width) continue;
    let start = 0n;
    for (const b of p.bytes) start = (start << 8n) | BigInt(b);
    const hostBits = BigInt(width - p.bits);
    start = (start >> hostBits) << hostBits;
    ranges.push([start, start + (1n << hostBits) - 1n]);
  }
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else merged.push([r[0], r[1]]);
  }
  const text = (n: bigint) => {
    const bytes = new Uint8Array(width / 8);
    for (let i = bytes.length - 1; i >= 0; i--) {
      bytes[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    return family === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
  };
  return merged.map(([a, b]) => (a === b ? text(a) : `${text(a)}-${text(b)}`));
}
