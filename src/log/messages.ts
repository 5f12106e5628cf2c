/**
 * Every log line the daemon writes, in one place (spec §5). The texts follow PortSentry 1.2 with
 * the tag first; operators grep for them and tests wait for them, so they are a contract.
 * Pure: strings in, string out. Escaping of attacker-influenced text (names) happens in the
 * sinks (sanitize.ts), not here, so that the texts stay literal.
 */

import { LIMITS } from "../limits.js";
import type { KernelTrapPlan, KernelTrapSettings } from "../policy/kernel-trap-plan.js";

export type Proto = "TCP" | "UDP";

/** `<name>/<ip>`: the resolved name, or the address again when unresolved (spec §5). */
function host(name: string, ip: string): string {
  return `${name}/${ip}`;
}

// --- adminalert: start-up and shut-down ---

export function starting(version: string): string {
  return `adminalert: PortSentry ${version} is starting.`;
}

export function listenTcp(port: number): string {
  return `adminalert: Going into listen mode on TCP port: ${port}`;
}

export function listenUdp(port: number): string {
  return `adminalert: Going into listen mode on UDP port: ${port}`;
}

export function stealthListen(proto: Proto, port: number): string {
  return `adminalert: Going into stealth listen mode on ${proto} port: ${port}`;
}

/** 1.2's text names no protocol; with `-atcp -audp` it is printed once per mode. */
export function advancedMonitor(ports: number): string {
  return `adminalert: Advanced mode will monitor first ${ports} ports`;
}

export function advancedExclude(port: number): string {
  return `adminalert: Advanced mode will manually exclude port: ${port}`;
}

/** A port below the advanced limit on which a local service listens ("inverse binding"). */
export function advancedIgnoredPort(proto: Proto, port: number): string {
  return `adminalert: Advanced Stealth scan detection mode activated. Ignored ${proto} port: ${port}`;
}

/** A listed stealth port on which a local service listens is not watched (Smart-Verify). */
export function stealthPortInUse(proto: Proto, port: number): string {
  return `adminalert: ${proto} port: ${port} is in use by a local service and will not be monitored`;
}

export function bindError(proto: Proto, port: number): string {
  return `adminalert: ERROR: could not bind ${proto} socket: ${port}. Attempting to continue`;
}

export function noPortBound(proto: Proto): string {
  return `adminalert: ERROR: could not bind any ${proto} port. Aborting.`;
}

export function captureError(iface: string, reason: string): string {
  return `adminalert: ERROR: packet capture on interface ${iface} failed: ${reason}`;
}

/** Printed only when every sensor is armed: tests and operators wait for it. */
export function active(): string {
  return "adminalert: PortSentry is now active and listening.";
}

export function reloaded(file: string): string {
  return `adminalert: Configuration reloaded from ${file}`;
}

export function reloadFailed(file: string, reason: string): string {
  return `adminalert: ERROR: could not reload configuration from ${file}, keeping the old one: ${reason}`;
}

/** Any failure, named with what failed (a start-up step, a responder, the kernel trap). */
export function error(what: string): string {
  return `adminalert: ERROR: ${what}`;
}

export function warning(what: string): string {
  return `adminalert: WARNING: ${what}`;
}

export function blocksRestored(count: number, stateDir: string): string {
  return `adminalert: ${count} blocks restored from ${stateDir}`;
}

export function reactionFailed(ip: string, reason: string): string {
  return `adminalert: ERROR: reaction to ${ip} failed: ${reason}`;
}

/** A SIGTERM or SIGINT before the daemon was armed: what was set up is undone, exit 0. */
export function startInterrupted(signal: string): string {
  return `adminalert: ${signal} during start-up: stopped before arming, blocks stay in force`;
}

/** A step of closing down (or of rolling back a failed start) that failed; the others go on. */
export function closeFailed(what: string, reason: string): string {
  return `adminalert: ERROR: closing ${what} failed: ${reason}`;
}

/** SIGHUP applied the ignore file; these keys changed too and wait for a restart. */
export function changedAtRestart(keys: readonly string[]): string {
  return `adminalert: changed keys take effect at the next restart: ${keys.join(", ")}`;
}

/** KERNEL_TRAP: the kernel blocked a source the daemon never blocks (its sets lagged behind). */
export function kernelBlockLifted(ip: string, why: string): string {
  return `adminalert: kernel trap blocked ${ip}, but ${why}: block lifted`;
}

export function kernelTrapRemoved(): string {
  return "adminalert: kernel trap rules were removed from nftables; putting them back";
}

/** The kernel's blocked sets could not be listed to record the blocks nobody heard of. */
export function kernelTrapListFailed(error: string): string {
  return `adminalert: ERROR: kernel trap: ${error}`;
}

/** The kernel trap sensor's `onHit` or `onGap` threw; the sensor goes on. */
export function kernelTrapHandlerFailed(handler: "hit" | "gap", reason: string): string {
  return `adminalert: ERROR: kernel trap ${handler} handler failed: ${reason}`;
}

/** NFLOG messages were lost: the daemon compares the kernel's blocks with its own. */
export function kernelTrapGap(reason: string): string {
  return `adminalert: WARNING: kernel trap: ${reason}; checking the kernel's blocks`;
}

export function nflogReadFailed(error: string): string {
  return `adminalert: ERROR: kernel trap: NFLOG read failed (${error}); re-opening`;
}

export function nflogReopenFailed(error: string): string {
  return `adminalert: ERROR: kernel trap: ${error}; retrying`;
}

/** A basic-mode port bound on one address family but not the other. */
export function boundInPart(proto: Proto, port: number, errors: readonly string[]): string {
  return `adminalert: WARNING: ${proto} port ${port} bound only in part (${errors.join(", ")})`;
}

export function outOfFileDescriptors(): string {
  return "adminalert: ERROR: out of file descriptors: raise the open-file limit (LimitNOFILE=, ulimit -n)";
}

/** Both lines, in 1.2's order. */
export function shuttingDown(): readonly [string, string] {
  return ["securityalert: PortSentry is shutting down", "adminalert: PortSentry is shutting down"];
}

// --- attackalert: detections ---

export function connectFrom(name: string, ip: string, proto: Proto, port: number): string {
  return `attackalert: Connect from host: ${host(name, ip)} to ${proto} port: ${port}`;
}

/** `classification` is detect's name: `TCP SYN/Normal scan`, `UDP scan`, ... (spec §4). */
export function scanFrom(
  classification: string,
  name: string,
  ip: string,
  proto: Proto,
  port: number,
): string {
  return `attackalert: ${classification} from host: ${host(name, ip)} to ${proto} port: ${port}`;
}

export function ipOptions(name: string, ip: string, proto: Proto, port: number): string {
  return `attackalert: Packet from host: ${host(name, ip)} to ${proto} port: ${port} has IP options set (detection avoidance technique).`;
}

// --- attackalert: reactions ---

export function alreadyBlocked(name: string, ip: string): string {
  return `attackalert: Host: ${host(name, ip)} is already blocked Ignoring`;
}

export function blockedWrappers(ip: string, line: string): string {
  return `attackalert: Host ${ip} has been blocked via wrappers with string: "${line}"`;
}

export function blockedRoute(ip: string, command: string): string {
  return `attackalert: Host ${ip} has been blocked via dropped route using command: "${command}"`;
}

/** Built-in firewall blocker: `method` is `nftables`, `iptables` or `ipset`. */
export function blockedVia(ip: string, method: string): string {
  return `attackalert: Host ${ip} has been blocked via ${method}`;
}

export function externalCommand(ip: string, command: string): string {
  return `attackalert: External command run for host: ${ip} using command: "${command}"`;
}

/** BLOCK_TCP/BLOCK_UDP = 0. */
export function ignoringResponse(proto: Proto): string {
  return `attackalert: Ignoring ${proto} response per configuration file setting.`;
}

/** A command (route, run-cmd) exited non-zero, timed out or could not start. */
export function commandFailed(ip: string, command: string, reason: string): string {
  return `attackalert: ERROR: command for host: ${ip} failed: "${command}" (${reason})`;
}

/** A built-in step (`wrappers`, `nftables`, ...) failed. */
export function blockFailed(ip: string, method: string, reason: string): string {
  return `attackalert: ERROR: blocking host ${ip} via ${method} failed: ${reason}`;
}

/** Self-protection refused the block: own address, loopback, gateway, name server. */
export function neverBlock(ip: string, reason: string): string {
  return `attackalert: Host ${ip} will not be blocked: ${reason}`;
}

export function blockRateLimited(ip: string, maxPerMinute: number): string {
  return `attackalert: Host ${ip} not blocked: limit of ${maxPerMinute} new blocks per minute reached`;
}

export function listenersFromProc(reason: string): string {
  return `listening ports are read from /proc/net (sock_diag failed: ${reason}); this costs more under a flood`;
}

/** PROBATION_TIMEOUT: a first, unverified probe (or a repeat past the block budget). */
export function probation(ip: string, seconds: number, pastBudget: boolean): string {
  const why = pastBudget ? "block limit reached" : "first probe";
  return `attackalert: Host ${ip} is on probation (${why}): dropped for ${seconds} s, blocked for good at its next probe`;
}

export function probationEnded(ip: string): string {
  return `attackalert: Host ${ip} probation has ended and was removed`;
}

export function blockExpired(ip: string): string {
  return `attackalert: Host ${ip} block has expired and was removed`;
}

export function unblocked(ip: string): string {
  return `attackalert: Host ${ip} has been unblocked on request`;
}

/** The block is in force, but its history line or blocked file could not be written. */
export function recordFailed(ip: string, reason: string): string {
  return `adminalert: ERROR: could not record block of ${ip}: ${reason}`;
}

/** A lifted block whose KILL_ROUTE has no inverse command: the route stays. */
export function routeNotUndone(ip: string): string {
  return `adminalert: KILL_ROUTE for ${ip} not undone: set KILL_ROUTE_UNDO`;
}

export function unblockFailed(ip: string, method: string, reason: string): string {
  return `attackalert: ERROR: unblocking host ${ip} via ${method} failed: ${reason}`;
}

/** Written by the logger's rate limiter when a key speaks again after being held back. */
export function suppressed(count: number, key: string): string {
  return `adminalert: ${count} similar log lines suppressed (${key})`;
}

// --- adminalert: records on a full disk ---

/** Once per episode: the first write that found the disk (or a quota) full. */
export function diskFull(what: string, error: string): string {
  return `adminalert: ERROR: disk full (${error}) writing ${what}: blocks stay in force; their records are written when space returns`;
}

export function spaceBack(caughtUp: number): string {
  return `adminalert: space is back: ${caughtUp} records caught up`;
}

/** A record that could not be written for another reason; it is retried. */
export function writeFailed(what: string, error: string): string {
  return `adminalert: ERROR: could not write ${what}: ${error}; retrying`;
}

/** WRAPPER_HOSTS_DENY is a mount point (bind mount): rename cannot replace it (EBUSY). */
export function hostsDenyInPlace(file: string): string {
  return `adminalert: ${file} is a mount point and cannot be replaced atomically; rewriting it in place from now on`;
}

// --- adminalert: the control socket ---

export function controlSocketError(reason: string): string {
  return `adminalert: ERROR: control socket: ${reason}`;
}

/** The audit line of a command that changes blocks (block, unblock), one per address. */
export function controlRequest(command: string, ip: string, outcome: string): string {
  return `adminalert: control request: ${command} ${ip}: ${outcome}`;
}

export function controlTimedOut(command: string, timeoutMs: number): string {
  return `adminalert: control command ${command} did not finish within ${timeoutMs} ms`;
}

export function controlCommandFailed(command: string, reason: string): string {
  return `adminalert: ERROR: control command ${command} failed: ${reason}`;
}

/** A daemon crashed without removing its socket; nobody answered on it. */
export function staleSocketRemoved(path: string): string {
  return `adminalert: removed the stale control socket ${path}`;
}

// --- adminalert: the service manager (systemd Type=notify) ---

export function notifySocketUnsupported(path: string): string {
  return `adminalert: WARNING: NOTIFY_SOCKET ${path} is not a file-system socket (abstract sockets are not supported); systemd notifications are off`;
}

export function notifyFailed(path: string, reason: string): string {
  return `adminalert: WARNING: cannot notify the service manager at ${path}: ${reason}`;
}

/** METRICS_LISTEN is set: where Prometheus scrapes. */
export function metricsListening(url: string): string {
  return `adminalert: Serving Prometheus metrics on ${url}`;
}

/** KERNEL_TRAP at start: which modes the kernel runs and why the others stay in userspace. */
export function kernelTrapPlanLines(settings: KernelTrapSettings, plan: KernelTrapPlan): string[] {
  const { kernel, userspace } = plan;
  const lines: string[] = [];
  if (!settings.kernelTrap) {
    lines.push('adminalert: Kernel trap is off (KERNEL_TRAP="0"): every probe goes through the daemon');
    return lines;
  }
  const limit =
    settings.maxBlocksPerMinute > 0
      ? `at most ${settings.maxBlocksPerMinute} new blocks a minute, the rest through the daemon`
      : "no limit on new blocks";
  const ban = settings.blockTimeoutSec > 0 ? `ban ${settings.blockTimeoutSec} s` : "ban without end";
  for (const k of kernel) {
    const proto = k.mode === "stcp" || k.mode === "atcp" ? "TCP" : "UDP";
    const count = k.ports.reduce((n, v) => n + v, 0);
    if (count === 0) {
      lines.push(`adminalert: Kernel trap for ${k.mode}: no ${proto} port to watch`);
      continue;
    }
    if (k.observe === true) {
      lines.push(
        `adminalert: Kernel trap for ${k.mode} (log only): probes to any of ${count} ${proto} ports without a local listener are counted by the kernel and reported to the daemon, nothing dropped (up to ${LIMITS.kernelSeenReportsPerSec} new sources and ${LIMITS.kernelOverLimitReportsPerSec} other probes a second; the rest counted only)`,
      );
      continue;
    }
    lines.push(
      `adminalert: Kernel trap for ${k.mode}: the first probe to any of ${count} ${proto} ports without a local listener is dropped and its source blocked by the kernel (${limit}; ${ban})`,
    );
  }
  if (kernel.length > 0 && settings.blockTimeoutGrowth > 1 && settings.blockTimeoutSec > 0) {
    lines.push(
      `adminalert: Kernel trap: a kernel block starts with BLOCK_TIMEOUT (${settings.blockTimeoutSec} s); the daemon sets a repeat offender's longer ban when it records the block`,
    );
  }
  for (const u of userspace) lines.push(`adminalert: Kernel trap not used for ${u.mode}: ${u.reason}`);
  return lines;
}

/** A block received from the fleet (FLEET_URL) and applied here; `origin` is the member that blocked first. */
export function fleetBlocked(ip: string, origin: string, classification: string): string {
  return `attackalert: Host ${ip} has been blocked: fleet block from ${origin} (${classification})`;
}

/** A fleet block this host's own policy refused (ignore list, own address, gateway, rate limit). */
export function fleetRefused(ip: string, origin: string, reason: string): string {
  return `attackalert: Host ${ip} fleet block from ${origin} refused: ${reason}`;
}

export function fleetUnblocked(ip: string, origin: string): string {
  return `attackalert: Host ${ip} has been unblocked fleet-wide by ${origin}`;
}

export function fleetJoined(name: string, member: string): string {
  return `adminalert: fleet ${name}: member ${member} connected`;
}

export function fleetProblem(reason: string): string {
  return `adminalert: fleet: ${reason}`;
}
