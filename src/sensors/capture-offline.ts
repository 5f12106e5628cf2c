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
import { RECORD_BYTES, writeRecord } from "./probe-record.js";

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
  const v4 = new Uint8Array([192, 0, 2, 1, ...new Array<number>(12).fill(0)]);
  const v6 = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1]);
  for (let i = 0; i < n; i++) {
    const family = i % 2 === 0 ? 4 : 6;
    const fields = {
      iface: 0,
      family,
      protocol: 6,
      tcpFlags: [0x02, 0x01, 0x00, 0x29][i % 4]!,
      ipOptions: false,
      answered: true, // by the kernel: emitted at once, no listener snapshot
      dstPort: 1 + i,
      tsUs: 0,
    };
    writeRecord(b, i * RECORD_BYTES, fields, family === 4 ? v4 : v6, 0);
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
    ackScans: config.detectAckScans,
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
      sensor.ownFlows,
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
