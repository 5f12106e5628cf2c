/**
 * The capture sensor without a capture: the warm-up step, and the offline sensor that lets a
 * test without root run frames through the live path's own parts.
 */

import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import { candidatePorts, emptyPorts, portRanges, type StealthMode } from "../port-set.js";
import type { Hit, Mode } from "../vocabulary.js";
import { CaptureEngine, WARM_UP_PLAN } from "./capture-engine.js";
import { type Generation, warmUpGeneration } from "./capture-generations.js";
import type { CapturePlan } from "./capture-plan.js";
import {
  type CaptureSensorOptions,
  captureModes,
  DEFAULT_CLOCKS,
  LiveCaptureSensor,
  type SensorClocks,
} from "./capture-sensor.js";
import { RECORD_BYTES } from "./probe-record.js";

/**
 * The warm-up step for the capture path: synthetic frames through a throwaway engine, then
 * synthetic records through a throwaway sensor (record → Hit: field reads, address formatting,
 * classification), so that a fresh daemon's first probe meets compiled code. Run once, before
 * the first capture opens: the object shapes V8 settles on here are the ones the real engine
 * and sensor are made with. Its hits go nowhere; nothing else is touched.
 */
export function warmUpCapturePath(modes: readonly Mode[], config: Config, log: Log): void {
  const split = captureModes(modes);
  if (split === undefined) return;
  CaptureEngine.warmUp();
  const scratch = new LiveCaptureSensor(
    split.all,
    { tcp: split.modes.tcp ?? "stcp", udp: split.modes.udp },
    config,
    [],
    () => {},
    log,
    DEFAULT_CLOCKS,
    { readListeners: () => emptyPorts() },
  );
  const gen = warmUpGeneration();
  const n = 16;
  const b = Buffer.alloc(n * RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    const at = i * RECORD_BYTES;
    b[at + 1] = i % 2 === 0 ? 4 : 6;
    b[at + 2] = 6;
    b[at + 3] = [0x02, 0x01, 0x00, 0x29][i % 4]!;
    b[at + 5] = 1; // answered by the kernel: emitted at once, no listener snapshot
    b.writeUInt16LE(1 + i, at + 6);
    b[at + 16] = i % 2 === 0 ? 192 : 0x20;
  }
  for (let round = 0; round < 10; round++) scratch.onRecords(gen, b, n);
  gen.engine.stop();
  void scratch.close();
}

/**
 * The capture sensor without a capture: frames are handed in through `read`, and go through the
 * live path's own parts (the engine with its probe engine, the listener gate, record → Hit), so
 * that a test without root can hold live and replay to the same decisions. `ownAddresses` are
 * this host's; `clocks.monoMs` also drives the engine's reply wait.
 */
export function offlineCaptureSensor(
  modes: readonly Mode[],
  config: Config,
  ownAddresses: readonly string[],
  onHit: (hit: Hit) => void,
  clocks: SensorClocks,
  log: Log,
  options: CaptureSensorOptions = {},
): {
  read(frames: readonly { data: Uint8Array; timestampUs: number }[], linkType?: number): void;
  close(): void;
} {
  const split = captureModes(modes);
  if (split === undefined) throw new Error("need one TCP and/or one UDP stealth or advanced mode");
  const sensor = new LiveCaptureSensor(split.all, split.modes, config, [], onHit, log, clocks, options);
  const ranges = (mode: StealthMode | undefined) =>
    mode && portRanges(candidatePorts(mode, config)).map((r) => [r.from, r.to] as const);
  const plan: CapturePlan = {
    ...WARM_UP_PLAN,
    interfaces: ["offline"],
    tcpRanges: ranges(split.modes.tcp),
    udpRanges: ranges(split.modes.udp),
    ownAddresses,
  };
  const gen: Generation = {
    ...warmUpGeneration(),
    id: 1,
    key: "offline",
    plan,
    engine: new CaptureEngine(
      plan,
      { hits: (b, n) => sensor.onRecords(gen, b, n), failed: () => {} },
      clocks.monoMs,
    ),
  };
  return {
    read: (frames, linkType) => gen.engine.readFrames(frames, linkType),
    close: () => {
      gen.engine.stop();
      void sensor.close();
    },
  };
}
