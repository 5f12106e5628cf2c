/** The kernel trap's config and nft spec for unit tests: -stcp and -audp, 1-day blocks, group 42. */

import type { Config } from "../../src/config/types.js";
import { candidatePorts } from "../../src/port-set.js";
import { DEFAULT_LOG_SNAPLEN, type KernelTrapSpec } from "../../src/respond/kernel-trap-script.js";
import { testConfig } from "./config.js";

export const trapConfig = (overrides: Partial<Config> = {}): Config =>
  testConfig("/t", { kernelTrap: true, killFirewall: "nftables", blockTimeoutSec: 86400, ...overrides });

export function trapSpec(overrides: Partial<KernelTrapSpec> = {}): KernelTrapSpec {
  const config = trapConfig();
  return {
    table: "portsentry",
    group: 42,
    modes: [
      { mode: "stcp", ports: candidatePorts("stcp", config) },
      { mode: "audp", ports: candidatePorts("audp", config) },
    ],
    timeoutSec: 86400,
    maxBlocksPerMinute: 60,
    interfaces: [],
    maxSetElements: 65536,
    logSnapLength: DEFAULT_LOG_SNAPLEN,
    overLimitReportsPerSec: 200,
    ...overrides,
  };
}

/** The rules of one of the trap's chains in a script, without `add rule inet portsentry CHAIN `. */
export function chainRules(script: string, chain: string): string[] {
  const head = `add rule inet portsentry ${chain} `;
  return script
    .trim()
    .split("\n")
    .filter((l) => l.startsWith(head))
    .map((l) => l.slice(head.length));
}

/** The `log` statement of `trapSpec`'s rules (group 42, the default snap length). */
export const trapLog = (prefix: string): string =>
  `log prefix "${prefix}" group 42 snaplen ${DEFAULT_LOG_SNAPLEN} queue-threshold 1`;
