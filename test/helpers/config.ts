/** A complete Config for unit tests, with 1.2-style values; override what a test is about. */

import type { Config } from "../../src/config/types.js";
import type { ReplayLimits } from "../../src/replay/events.js";

/** Small table sizes for replay in unit tests (the daemon's are in src/limits.ts). */
export const TEST_REPLAY_LIMITS: ReplayLimits = {
  maxSources: 1000,
  maxBlocks: 1000,
  repeatLogWindowMs: 60_000,
  maxRepeatEntries: 100,
  probationCapacity: 1000,
  probationMemoryMs: 86_400_000,
};

export function testConfig(dir: string, overrides: Partial<Config> = {}): Config {
  return {
    file: `${dir}/portsentry.conf`,
    tcpPorts: [1, 11, 143],
    udpPorts: [1, 7, 9],
    advancedPortsTcp: 1024,
    advancedPortsUdp: 1024,
    advancedExcludeTcp: [113, 139],
    advancedExcludeUdp: [67, 137, 138, 520],
    ignoreFile: `${dir}/portsentry.ignore`,
    historyFile: `${dir}/portsentry.history`,
    blockedFile: `${dir}/portsentry.blocked`,
    resolveHost: false,
    blockTcp: 1,
    blockUdp: 1,
    killRoute: undefined,
    killRouteUndo: undefined,
    killHostsDeny: undefined,
    killRunCmd: undefined,
    killRunCmdFirst: false,
    scanTrigger: 0,
    portBanner: undefined,
    wrapperHostsDeny: `${dir}/hosts.deny`,
    syslogFacility: "daemon",
    syslogLevel: "notice",
    syslogSocket: "/dev/log",
    killFirewall: "none",
    blockTimeoutSec: 0,
    blockTimeoutGrowth: 1,
    blockTimeoutMaxSec: 0,
    stateDir: dir,
    kernelTrap: false,
    maxBlocksPerMinute: 60,
    probationSec: 0,
    triggerWindowSec: 600,
    listenGraceSec: 600,
    detectAckScans: false,
    metricsListen: undefined,
    metricsListenPublic: false,
    fleetUrl: undefined,
    fleetName: "portsentry",
    fleetMember: undefined,
    fleetUser: undefined,
    fleetPasswordFile: undefined,
    fleetShare: true,
    fleetScanTrigger: 0,
    fleetTriggerWindowSec: 600,
    fleetTlsCa: undefined,
    fleetTlsCert: undefined,
    fleetTlsKey: undefined,
    ...overrides,
  };
}
