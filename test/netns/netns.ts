// Network-namespace lab for integration tests: one target host and N scanner hosts on a private
// bridge, documentation addresses only, no default route, torn down even when a test crashes.
//
// Layout (hosts = 2):
//
//   scanner ns <base>-s1             target ns <base>-t                scanner ns <base>-s2
//   psn<id>s1 192.0.2.2  <-veth->  psn<id>t1 ┐                ┌ psn<id>t2  <-veth->  psn<id>s2 192.0.2.3
//             2001:db8::2                    └ bridge psn<id>b ┘                             2001:db8::3
//                                              192.0.2.1/24, 2001:db8::1/64
//
// Namespace names encode the owning pid (`psn-<pid>-<id>[-<label>]-t|sN`) so that a later run can
// sweep labs whose owner died without cleaning up (SIGKILL, runner timeout).

import { type ChildProcess, execFile, execFileSync, spawn as spawnChild } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { TestContext } from "node:test";

export const LAB_PREFIX = "psn";
export const NEEDS_ROOT = "needs root: creates network namespaces";

const NETNS_DIR = "/var/run/netns";
const MAX_HOSTS = 16;
const IP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 5_000;
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
const DEFAULT_GRACE_MS = 1_000;
/** Output kept per stream of a process; older bytes are dropped so a chatty daemon cannot grow memory. */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;
// psn-<pid>-<id>[-<label>]-<t|sN>
const LAB_NS_RE = /^psn-(\d+)-[a-z0-9]+(?:-[a-z0-9]+)?-(?:t|s\d+)$/;

// ---------------------------------------------------------------------------------------------
// Root check

/** For `test(name, { skip: rootSkip() }, ...)` / `describe(...)`: a skip reason when not root. */
export function rootSkip(): string | false {
  return process.getuid?.() === 0 ? false : NEEDS_ROOT;
}

/** Inside a test: `if (!requireRoot(t)) return;` — marks the test skipped when not root. */
export function requireRoot(t: TestContext): boolean {
  const reason = rootSkip();
  if (reason === false) return true;
  t.skip(reason);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Polling helpers

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message ("daemon pid file", "nft table psn_x"). */
  readonly what?: string;
}

/**
 * Calls `probe` until it returns a truthy value (returned) or the deadline passes (throws, naming
 * `what`). A probe that throws counts as "not yet"; its last error is quoted on timeout.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 25, what }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const label = what ?? `condition ${truncate(probe.toString(), 120)}`;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    const leftMs = deadline - performance.now();
    if (leftMs <= 0) {
      const cause = lastError === undefined ? "" : `; last error: ${errorText(lastError)}`;
      throw new Error(`waitFor: timed out after ${timeoutMs} ms waiting for ${label}${cause}`);
    }
    await delay(Math.min(intervalMs, leftMs));
  }
}

/** Waits until the file exists and its text matches; returns the whole text. */
export async function waitForFileContains(
  path: string,
  pattern: RegExp | string,
  timeoutMs = 5_000,
): Promise<string> {
  return waitFor(
    async () => {
      const text = await readFile(path, "utf8");
      return matches(text, pattern) ? text : undefined;
    },
    { timeoutMs, what: `${describePattern(pattern)} in file ${path}` },
  );
}

export type OutputStream = "stdout" | "stderr" | "both";

/**
 * Waits until the process has printed text matching `pattern` (on stderr, stdout or either).
 * Event-driven, no polling; rejects at once if the process closes its output without a match.
 * Returns the matched text.
 */
export function waitForOutput(
  proc: LabProcess,
  pattern: RegExp | string,
  timeoutMs = 5_000,
  stream: OutputStream = "both",
): Promise<string> {
  const find = (): string | undefined => {
    const texts = stream === "both" ? [proc.stderr, proc.stdout] : [proc[stream]];
    for (const text of texts) {
      const found = firstMatch(text, pattern);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const where = `${describePattern(pattern)} on ${stream === "both" ? "stdout/stderr" : stream} of ${proc.describe()}`;
  return new Promise((resolve, reject) => {
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      proc.events.off("output", onOutput);
      proc.events.off("closed", onClosed);
      outcome();
    };
    const onOutput = (): void => {
      const found = find();
      if (found !== undefined) finish(() => resolve(found));
    };
    const onClosed = (): void => {
      const found = find();
      if (found !== undefined) finish(() => resolve(found));
      else
        finish(() =>
          reject(
            new Error(
              `waitForOutput: ${describeExit(proc.exitStatus)} before printing ${where}${proc.tail()}`,
            ),
          ),
        );
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new Error(`waitForOutput: timed out after ${timeoutMs} ms waiting for ${where}${proc.tail()}`),
          ),
        ),
      timeoutMs,
    );
    proc.events.on("output", onOutput);
    proc.events.on("closed", onClosed);
    if (proc.closed) onClosed();
    else onOutput();
  });
}

// ---------------------------------------------------------------------------------------------
// Processes inside a namespace

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. `ip` missing). */
  readonly error?: string;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: string;
}

export interface ExecOptions extends SpawnOptions {
  /** Default 30 000; on expiry the whole process group gets SIGKILL. */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** code === 0 and not timed out. */
  readonly ok: boolean;
  readonly durationMs: number;
}

/**
 * A process started with `ip netns exec NS argv...`. `ip` execs the command in place, so `pid` is
 * the command itself; it leads its own process group, so signals reach its children too.
 */
export class LabProcess {
  readonly ns: string;
  readonly argv: readonly string[];
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** "output" on each chunk, "closed" once the process exited and its stdout/stderr are drained. */
  readonly events = new EventEmitter();
  #stdout = "";
  #stderr = "";
  #exitStatus: ExitStatus | undefined;
  #closed = false;

  constructor(ns: string, argv: readonly string[], opts: SpawnOptions = {}) {
    this.ns = ns;
    this.argv = argv;
    this.child = spawnChild("ip", ["netns", "exec", ns, ...argv], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true, // own process group: kill(-pid) reaches grandchildren
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.#exitStatus ??= { code, signal };
        resolve(this.#exitStatus);
      });
      this.child.once("error", (error) => {
        this.#exitStatus ??= { code: null, signal: null, error: error.message };
        resolve(this.#exitStatus);
        this.#markClosed();
      });
    });
    this.child.once("close", () => this.#markClosed());
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stdout = capTail(this.#stdout + chunk);
      this.events.emit("output");
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderr = capTail(this.#stderr + chunk);
      this.events.emit("output");
    });
    if (opts.input !== undefined) {
      this.child.stdin?.on("error", () => {}); // the command may exit without reading stdin
      this.child.stdin?.end(opts.input);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    return this.#stdout;
  }
  get stderr(): string {
    return this.#stderr;
  }
  /** Undefined while running. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }
  get running(): boolean {
    return this.#exitStatus === undefined;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Signals the whole process group; no-op once exited. */
  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.running) killGroup(this.child.pid, signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<ExitStatus> {
    this.kill("SIGTERM");
    const early = await within(this.exited, graceMs);
    if (early !== undefined) return early;
    this.kill("SIGKILL");
    return this.exited;
  }

  describe(): string {
    return `[${this.argv.map((a) => truncate(a, 40)).join(" ")}] in ${this.ns}`;
  }

  /** The last lines of output, for error messages. */
  tail(maxChars = 800): string {
    const out = this.#stdout.slice(-maxChars / 2).trimEnd();
    const err = this.#stderr.slice(-maxChars / 2).trimEnd();
    return `\n--- stdout (tail) ---\n${out}\n--- stderr (tail) ---\n${err}`;
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.events.emit("closed");
  }
}

// ---------------------------------------------------------------------------------------------
// The lab

export interface LabHost {
  /** Network namespace name, for `ip netns exec` / `ip -n`. */
  readonly ns: string;
  /** The host's addressed interface (the bridge on the target). */
  readonly iface: string;
  readonly v4: string;
  readonly v6: string;
}

export interface ScannerHost extends LabHost {
  /** 1-based: scanner 1 is 192.0.2.2. */
  readonly index: number;
  /** The target-side end of this scanner's veth (a port of the target's bridge). */
  readonly peerIface: string;
}

export interface CreateLabOptions {
  /** Short label put into the namespace names, [a-z0-9], for reading `ip netns list`. */
  readonly name?: string;
  /** Number of scanner hosts, 1..16 (default 1). */
  readonly hosts?: number;
}

export type NsRef = string | { readonly ns: string };

export const V4_PREFIX_LEN = 24;
export const V6_PREFIX_LEN = 64;

export class Lab {
  /** Common prefix of this lab's namespace names, e.g. `psn-1234-k3x9a-scan`. */
  readonly name: string;
  readonly target: LabHost;
  readonly scanners: readonly ScannerHost[];
  /** Every namespace of the lab, target first. */
  readonly namespaces: readonly string[];
  #processes = new Set<LabProcess>();
  #teardown: Promise<void> | undefined;

  /** Use `createLab()`; the constructor only names things. */
  constructor(name: string, target: LabHost, scanners: readonly ScannerHost[]) {
    this.name = name;
    this.target = target;
    this.scanners = scanners;
    this.namespaces = [target.ns, ...scanners.map((s) => s.ns)];
  }

  get destroyed(): boolean {
    return this.#teardown !== undefined;
  }

  /** Scanner by 1-based index (`lab.scanner(2)` is 192.0.2.3). */
  scanner(index = 1): ScannerHost {
    const host = this.scanners[index - 1];
    if (host === undefined) throw new Error(`lab ${this.name} has no scanner ${index}`);
    return host;
  }

  /** Starts a tracked process; it is killed by `destroy()` if still running. */
  spawn(where: NsRef, argv: readonly string[], opts: SpawnOptions = {}): LabProcess {
    const ns = this.#own(where);
    if (argv.length === 0) throw new Error("spawn: empty argv");
    const proc = new LabProcess(ns, argv, opts);
    this.#processes.add(proc);
    void proc.exited.then(() => this.#processes.delete(proc));
    return proc;
  }

  /** Runs to completion (or SIGKILL of its process group after `timeoutMs`); never rejects on exit status. */
  async exec(where: NsRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const startedMs = performance.now();
    const proc = this.spawn(where, argv, opts);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const timedOut = (await within(proc.exited, timeoutMs)) === undefined;
    if (timedOut) proc.kill("SIGKILL");
    const status = await proc.exited;
    // Drain the pipes, but do not hang if an escaped grandchild still holds them.
    if (!proc.closed) await within(new Promise((r) => proc.events.once("closed", r)), 1_000);
    if (status.error !== undefined) throw new Error(`exec ${proc.describe()}: ${status.error}`);
    return {
      code: status.code,
      signal: status.signal,
      stdout: proc.stdout,
      stderr: proc.stderr,
      timedOut,
      ok: status.code === 0 && !timedOut,
      durationMs: performance.now() - startedMs,
    };
  }

  /** Like `exec`, but throws (with the command, status and stderr) unless it exited 0 in time. */
  async execOk(where: NsRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const ns = this.#own(where);
    const result = await this.exec(ns, argv, opts);
    if (!result.ok) {
      const status = result.timedOut
        ? `timed out after ${opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS} ms`
        : `exit ${result.code ?? result.signal}`;
      throw new Error(
        `[${argv.join(" ")}] in ${ns}: ${status}\nstdout: ${truncate(result.stdout, 2000)}\nstderr: ${truncate(result.stderr, 2000)}`,
      );
    }
    return result;
  }

  waitFor<T>(probe: () => T | Promise<T>, opts?: WaitOptions): Promise<NonNullable<T>> {
    return waitFor(probe, opts);
  }

  waitForFileContains(path: string, pattern: RegExp | string, timeoutMs?: number): Promise<string> {
    return waitForFileContains(path, pattern, timeoutMs);
  }

  waitForOutput(
    proc: LabProcess,
    pattern: RegExp | string,
    timeoutMs?: number,
    stream?: OutputStream,
  ): Promise<string> {
    return waitForOutput(proc, pattern, timeoutMs, stream);
  }

  /**
   * Kills every tracked process (SIGTERM, SIGKILL after `graceMs`), then anything else still inside
   * the namespaces, then deletes the namespaces (which removes the veths, the bridge and any nft
   * tables made inside). Idempotent: later calls return the first call's promise.
   */
  destroy({ graceMs = DEFAULT_GRACE_MS }: { readonly graceMs?: number } = {}): Promise<void> {
    this.#teardown ??= this.#destroy(graceMs);
    return this.#teardown;
  }

  /** Synchronous last resort for process exit/signals: SIGKILL everything, delete namespaces. */
  destroySync(): void {
    this.#teardown ??= Promise.resolve();
    for (const proc of this.#processes) killGroup(proc.pid, "SIGKILL");
    for (const ns of this.namespaces) deleteNamespaceSync(ns);
    liveLabs.delete(this);
  }

  async #destroy(graceMs: number): Promise<void> {
    await Promise.all([...this.#processes].map((proc) => proc.stop(graceMs)));
    const failures: string[] = [];
    for (const ns of this.namespaces) {
      const failure = await deleteNamespace(ns);
      if (failure !== undefined) failures.push(failure);
    }
    liveLabs.delete(this);
    if (failures.length > 0) throw new Error(`lab ${this.name}: teardown failed:\n${failures.join("\n")}`);
  }

  #own(where: NsRef): string {
    const ns = typeof where === "string" ? where : where.ns;
    if (!this.namespaces.includes(ns)) throw new Error(`namespace ${ns} is not part of lab ${this.name}`);
    if (this.destroyed) throw new Error(`lab ${this.name} is destroyed`);
    return ns;
  }
}

/**
 * Creates a target namespace and `hosts` scanner namespaces joined by a bridge in the target,
 * and waits until every address is usable. Sweeps stale labs of dead processes first.
 * Always pair with `after(() => lab.destroy())`.
 */
export async function createLab(opts: CreateLabOptions = {}): Promise<Lab> {
  const hosts = opts.hosts ?? 1;
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) {
    throw new Error(`createLab: hosts must be an integer 1..${MAX_HOSTS}, got ${hosts}`);
  }
  const label =
    opts.name
      ?.toLowerCase()
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 12) ?? "";
  await cleanupStaleLabs();

  const id = randomId(5);
  const base = `${LAB_PREFIX}-${process.pid}-${id}${label ? `-${label}` : ""}`;
  const ifBase = `${LAB_PREFIX}${id}`; // created inside the namespaces, so never seen by the host
  const target: LabHost = { ns: `${base}-t`, iface: `${ifBase}b`, v4: "192.0.2.1", v6: "2001:db8::1" };
  const scanners: ScannerHost[] = [];
  for (let index = 1; index <= hosts; index++) {
    scanners.push({
      index,
      ns: `${base}-s${index}`,
      iface: `${ifBase}s${index}`,
      peerIface: `${ifBase}t${index}`,
      v4: `192.0.2.${index + 1}`,
      v6: `2001:db8::${index + 1}`, // same digits as the v4 host part: .10 is ::10
    });
  }
  const lab = new Lab(base, target, scanners);
  registerLive(lab); // before the first namespace exists, so a crash mid-setup is cleaned too

  try {
    await Promise.all(lab.namespaces.map((ns) => ip(["netns", "add", ns])));
    await Promise.all(lab.namespaces.map((ns) => prepareNamespace(ns)));
    const t = target.ns;
    // No STP and no multicast snooping: ports forward at once and ND multicast is always flooded.
    await ip([
      "-n",
      t,
      "link",
      "add",
      "name",
      target.iface,
      "type",
      "bridge",
      "stp_state",
      "0",
      "mcast_snooping",
      "0",
    ]);
    await ip(["-n", t, "addr", "add", `${target.v4}/${V4_PREFIX_LEN}`, "dev", target.iface]);
    await ip(["-n", t, "addr", "add", `${target.v6}/${V6_PREFIX_LEN}`, "dev", target.iface, "nodad"]);
    await ip(["-n", t, "link", "set", "dev", target.iface, "up"]);
    // Where br_netfilter is loaded, IP netfilter hooks would run on bridged frames before the
    // bridge device (and a capture on it) sees them: off, so the bridge acts like a plain NIC.
    await execFileText("ip", [
      "netns",
      "exec",
      t,
      "sh",
      "-c",
      'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e "$f" ] && echo 0 > "$f"; done; true',
    ]);
    for (const s of scanners) {
      await ip([
        "-n",
        t,
        "link",
        "add",
        "name",
        s.peerIface,
        "type",
        "veth",
        "peer",
        "name",
        s.iface,
        "netns",
        s.ns,
      ]);
      await ip(["-n", t, "link", "set", "dev", s.peerIface, "master", target.iface, "up"]);
      await ip(["-n", s.ns, "addr", "add", `${s.v4}/${V4_PREFIX_LEN}`, "dev", s.iface]);
      await ip(["-n", s.ns, "addr", "add", `${s.v6}/${V6_PREFIX_LEN}`, "dev", s.iface, "nodad"]);
      await ip(["-n", s.ns, "link", "set", "dev", s.iface, "up"]);
    }
    await waitFor(() => labReady(lab), {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 10,
      what: `lab ${base} links up and addresses not tentative`,
    });
  } catch (error) {
    await lab.destroy().catch(() => {});
    throw error;
  }
  return lab;
}

/**
 * Deletes namespaces named like ours whose owning pid is gone (left by a crashed or SIGKILLed
 * run), killing whatever still runs inside them. Labs of live processes are never touched.
 * Returns the names removed.
 */
export async function cleanupStaleLabs(): Promise<readonly string[]> {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const match = LAB_NS_RE.exec(ns);
    if (match === null || pidAlive(Number(match[1]))) continue;
    // Another process may be sweeping the same lab: only "still there" counts as failure.
    await deleteNamespace(ns);
    if (!listNamespaces().includes(ns)) removed.push(ns);
  }
  return removed;
}

/** Names of all network namespaces (`ip netns list`), ours or not. */
export function listNamespaces(): readonly string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Internals

const liveLabs = new Set<Lab>();
const FATAL_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let hooksInstalled = false;

function registerLive(lab: Lab): void {
  liveLabs.add(lab);
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous: execFileSync only.
  process.on("exit", destroyAllSync);
  for (const signal of FATAL_SIGNALS) {
    const onSignal = (): void => {
      destroyAllSync();
      for (const s of FATAL_SIGNALS) process.removeListener(s, signalHandlers.get(s)!);
      process.kill(process.pid, signal); // re-raise with the default action
    };
    signalHandlers.set(signal, onSignal);
    process.on(signal, onSignal);
  }
}
const signalHandlers = new Map<NodeJS.Signals, () => void>();

function destroyAllSync(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

async function prepareNamespace(ns: string): Promise<void> {
  // No DAD anywhere (link-local addresses included) so IPv6 is usable at once; no forwarding.
  await execFileText("ip", [
    "netns",
    "exec",
    ns,
    "sysctl",
    "-qw",
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv4.ip_forward=0",
    "net.ipv6.conf.all.forwarding=0",
  ]);
  await ip(["-n", ns, "link", "set", "dev", "lo", "up"]);
}

interface IpAddrJson {
  readonly ifname?: string;
  readonly flags?: readonly string[];
  readonly addr_info?: readonly { readonly tentative?: boolean; readonly local?: string }[];
}

async function labReady(lab: Lab): Promise<boolean> {
  const checks = [
    { ns: lab.target.ns, iface: lab.target.iface, addrs: [lab.target.v4, lab.target.v6] },
    ...lab.scanners.map((s) => ({ ns: s.ns, iface: s.iface, addrs: [s.v4, s.v6] })),
  ];
  for (const { ns, iface, addrs } of checks) {
    const links = JSON.parse(await ip(["-j", "-n", ns, "addr", "show"])) as readonly IpAddrJson[];
    const link = links.find((l) => l.ifname === iface);
    if (link === undefined || !link.flags?.includes("LOWER_UP")) return false;
    if (links.some((l) => l.addr_info?.some((a) => a.tentative === true))) return false;
    for (const addr of addrs) if (!link.addr_info?.some((a) => a.local === addr)) return false;
  }
  // Target-side veth ends must carry too (they are the bridge ports).
  const targetLinks = JSON.parse(
    await ip(["-j", "-n", lab.target.ns, "link", "show"]),
  ) as readonly IpAddrJson[];
  return lab.scanners.every((s) =>
    targetLinks.find((l) => l.ifname === s.peerIface)?.flags?.includes("LOWER_UP"),
  );
}

/** Returns undefined on success, else a message. */
async function deleteNamespace(ns: string): Promise<string | undefined> {
  if (!listNamespaces().includes(ns)) return undefined;
  // Processes keep a namespace (and its veths) alive after `ip netns del`: kill them first.
  const pids = await execFileText("ip", ["netns", "pids", ns]).catch(() => "");
  for (const pid of parsePids(pids)) killPid(pid, "SIGKILL");
  try {
    await ip(["netns", "del", ns]);
  } catch (error) {
    if (listNamespaces().includes(ns)) return `ip netns del ${ns}: ${errorText(error)}`;
  }
  return undefined;
}

function deleteNamespaceSync(ns: string): void {
  if (!listNamespaces().includes(ns)) return;
  try {
    const pids = execFileSync("ip", ["netns", "pids", ns], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    for (const pid of parsePids(pids)) killPid(pid, "SIGKILL");
  } catch {}
  try {
    execFileSync("ip", ["netns", "del", ns], { stdio: "ignore", timeout: IP_TIMEOUT_MS });
  } catch {}
}

function ip(args: readonly string[]): Promise<string> {
  return execFileText("ip", args);
}

function execFileText(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: IP_TIMEOUT_MS, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie owner is dead too: its labs will never be destroyed.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    killPid(pid, signal); // not a group leader after all (or already gone)
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

function randomId(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join("");
}

function matches(text: string, pattern: RegExp | string): boolean {
  return firstMatch(text, pattern) !== undefined;
}

function firstMatch(text: string, pattern: RegExp | string): string | undefined {
  if (typeof pattern === "string") return text.includes(pattern) ? pattern : undefined;
  // Drop g/y: their lastIndex state would make repeated checks skip matches.
  const re =
    pattern.global || pattern.sticky
      ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
      : pattern;
  return re.exec(text)?.[0];
}

function describePattern(pattern: RegExp | string): string {
  return typeof pattern === "string" ? JSON.stringify(pattern) : pattern.toString();
}

function describeExit(status: ExitStatus | undefined): string {
  if (status === undefined) return "process closed its output";
  if (status.error !== undefined) return `process failed to start (${status.error})`;
  return status.signal === null
    ? `process exited with code ${status.code}`
    : `process was killed by ${status.signal}`;
}

function capTail(text: string): string {
  return text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS) : text;
}

function truncate(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The promise's value, or undefined if it has not settled within `ms` (the timer is cleared). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}
