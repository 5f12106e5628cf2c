/**
 * Start-up step 10, the sensors. Basic modes bind their ports (none bound is a failure to
 * start); stealth and advanced modes share one capture (a capture that cannot open is a failure
 * to start).
 */

import type { RunOptions } from "../cli/args.js";
import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import { candidatePorts, isCaptureMode, portList, type StealthMode } from "../port-set.js";
import type { ResourceStack } from "../resources.js";
import { openBasicSensor } from "../sensors/basic.js";
import { logStartupLines } from "../sensors/capture-lines.js";
import type { CaptureSensor } from "../sensors/capture-sensor.js";
import type { ChangeWatch } from "../sensors/command-feed.js";
import { ListenerTable, listeningSource } from "../sensors/listening.js";
import { StartError } from "../start-error.js";
import type { Hit, Mode } from "../vocabulary.js";

/** A sensor as the daemon sees it: what it watches. */
export interface ArmedSensor {
  readonly mode: Mode;
  readonly ports: readonly number[];
}

export interface OpenedSensors {
  readonly armed: readonly ArmedSensor[];
  readonly capture: CaptureSensor | undefined;
}

export async function openSensors(
  config: Config,
  options: RunOptions,
  onHit: (hit: Hit) => string | undefined,
  log: Log,
  monoClockMs: () => number,
  resources: ResourceStack,
  checkpoint: () => void,
  kernelModes: readonly Mode[] = [],
  hostFacts?: ChangeWatch,
): Promise<OpenedSensors> {
  const armed: ArmedSensor[] = [];
  for (const mode of options.modes) {
    if (mode !== "tcp" && mode !== "udp") continue;
    const proto = mode === "tcp" ? "TCP" : "UDP";
    const ports = mode === "tcp" ? config.tcpPorts : config.udpPorts;
    const sensor = await openBasicSensor(mode, ports, onHit, log, monoClockMs);
    resources.add(`the ${mode} trap ports`, () => sensor.close());
    if (sensor.boundPorts.length === 0) {
      log.error(msg.noPortBound(proto));
      throw new StartError(`no ${proto} port could be bound`, 1);
    }
    armed.push({ mode, ports: sensor.boundPorts });
    checkpoint();
  }
  const captureModes = options.modes.filter(isCaptureMode);
  for (const mode of captureModes) armed.push({ mode, ports: portList(candidatePorts(mode, config)) });
  // The kernel trap reports every probe of its modes (trapped, or past its limit): the capture
  // watching them too would make each probe two hits.
  const userspaceModes = captureModes.filter((m) => !kernelModes.includes(m));
  logKernelModeLines(
    config,
    captureModes.filter((m) => kernelModes.includes(m)),
    log,
    monoClockMs,
  );
  if (userspaceModes.length === 0) return { armed, capture: undefined };
  // Loaded only when the capture runs (the kernel trap runs the shipped modes).
  const { openCaptureSensor } = await import("../sensors/capture-sensor.js");
  const opened = await openCaptureSensor(userspaceModes, config, options.interfaces, onHit, log, undefined, {
    hostFacts,
  });
  if (!opened.ok) throw new StartError(opened.error, 1);
  noteListenerSource(log);
  const capture = opened.sensor;
  resources.add("the capture", () => capture.close());
  return { armed, capture };
}

/**
 * Says so when listening ports come from /proc (slower under load) because sock_diag failed;
 * after the capture's first read of them, which is when that shows.
 */
function noteListenerSource(log: Log): void {
  const source = listeningSource();
  if (source.source === "proc") log.warn(msg.listenersFromProc(source.reason ?? "unknown"));
}

/** The 1.2 start-up lines of the modes the kernel runs (the capture, which prints its own, does not watch them). */
function logKernelModeLines(
  config: Config,
  modes: readonly StealthMode[],
  log: Log,
  monoClockMs: () => number,
): void {
  if (modes.length === 0) return;
  const tcp = modes.find((m) => m === "stcp" || m === "atcp");
  const udp = modes.find((m) => m === "sudp" || m === "audp");
  const listeners = new ListenerTable({ monoMs: monoClockMs });
  if (tcp) listeners.refreshSync("tcp");
  if (udp) listeners.refreshSync("udp");
  const candidates = { tcp: tcp && candidatePorts(tcp, config), udp: udp && candidatePorts(udp, config) };
  logStartupLines(log, config, { tcp, udp }, candidates, listeners);
}
