/**
 * KERNEL_TRAP: which modes the kernel trap runs, and why the others stay in userspace (the
 * start-up lines that say so are log/messages.ts's kernelTrapPlanLines). A decision, hence policy and pure: the caller hands in the few
 * settings it reads and the candidate ports of each mode (port-set.ts, which the core cannot
 * import). The nft text is respond/kernel-trap-script.ts; running it, respond/kernel-trap.ts.
 */

import type { BlockLevel, Mode } from "../vocabulary.js";

/**
 * A mode the kernel can trap: stealth and advanced. The same words as port-set.ts's
 * `StealthMode`, spelled out here because the core imports only the core.
 */
export type TrapMode = "stcp" | "sudp" | "atcp" | "audp";

/** The settings the plan reads; a `Config` is one. */
export interface KernelTrapSettings {
  readonly kernelTrap: boolean;
  readonly killFirewall: string;
  readonly blockTcp: BlockLevel;
  readonly blockUdp: BlockLevel;
  readonly scanTrigger: number;
  readonly maxBlocksPerMinute: number;
  readonly blockTimeoutSec: number;
  readonly blockTimeoutGrowth: number;
}

export interface KernelMode {
  readonly mode: TrapMode;
  /**
   * Candidate ports, one byte per port (port-set.ts's `PortBitmap`); listeners are left to the
   * socket check, per packet.
   */
  readonly ports: Uint8Array;
  /**
   * Log only (BLOCK_*="0"): the kernel counts every probe and reports them to the daemon at a
   * bounded rate, and drops nothing. Absent: it traps (drops and blocks or puts on probation).
   */
  readonly observe?: boolean;
}

export interface UserspaceMode {
  readonly mode: Mode;
  readonly reason: string;
}

export interface KernelTrapPlan {
  readonly kernel: readonly KernelMode[];
  readonly userspace: readonly UserspaceMode[];
}

/**
 * Which of `modes` the kernel trap runs, and why the others stay in userspace. Pure.
 * The kernel acts on the first probe, always: SCAN_TRIGGER above 1 (count first) and BLOCK_* 2
 * (command only) cannot be expressed there. BLOCK_* 0 (log only) runs in the kernel as an
 * observer: every probe counted there, a bounded rate of them reported to the daemon, which
 * logs them; so that a flood costs the daemon a bounded amount (#17). `candidatePorts` is asked
 * only for the modes the kernel runs.
 */
export function kernelTrapPlan(
  settings: KernelTrapSettings,
  modes: readonly Mode[],
  candidatePorts: (mode: TrapMode) => Uint8Array,
): KernelTrapPlan {
  const kernel: KernelMode[] = [];
  const userspace: UserspaceMode[] = [];
  for (const mode of modes) {
    const reason = whyUserspace(settings, mode);
    if (reason !== undefined || !isTrapMode(mode)) {
      userspace.push({ mode, reason: reason ?? "not a stealth or advanced mode" });
      continue;
    }
    const logOnly = (mode === "stcp" || mode === "atcp" ? settings.blockTcp : settings.blockUdp) === 0;
    kernel.push({ mode, ports: candidatePorts(mode), ...(logOnly ? { observe: true } : {}) });
  }
  return { kernel, userspace };
}

function isTrapMode(mode: Mode): mode is TrapMode {
  return mode === "stcp" || mode === "sudp" || mode === "atcp" || mode === "audp";
}

function whyUserspace(settings: KernelTrapSettings, mode: Mode): string | undefined {
  if (!settings.kernelTrap) return 'KERNEL_TRAP is "0"';
  if (settings.killFirewall !== "nftables")
    return `KILL_FIREWALL is "${settings.killFirewall}": the kernel trap needs "nftables"`;
  if (!isTrapMode(mode))
    return "a basic mode's hit is a completed connection to a bound port, which only the daemon sees";
  const tcp = mode === "stcp" || mode === "atcp";
  const key = tcp ? "BLOCK_TCP" : "BLOCK_UDP";
  const level = tcp ? settings.blockTcp : settings.blockUdp;
  if (level === 2) return `${key}="2" runs KILL_RUN_CMD only: a kernel block would go further`;
  if (settings.scanTrigger > 1)
    return `SCAN_TRIGGER="${settings.scanTrigger}": the kernel acts on the first probe and cannot count probes per source first`;
  return undefined;
}
