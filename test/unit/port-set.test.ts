/** Watched-port bitmaps per mode, and which interfaces are captured by default. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  candidatePorts,
  isCaptureMode,
  portBitmap,
  portList,
  portRanges,
  withoutPorts,
} from "../../src/port-set.js";
import { captureInterfaces, type InterfaceInfo } from "../../src/sensors/interfaces.js";
import { testConfig } from "../helpers/config.js";

const config = testConfig("/nonexistent");

describe("candidatePorts", () => {
  test("stealth modes watch the listed ports", () => {
    assert.deepEqual(portList(candidatePorts("stcp", config)), [1, 11, 143]);
    assert.deepEqual(portList(candidatePorts("sudp", config)), [1, 7, 9]);
  });

  test("advanced modes watch every port below the limit but the excluded ones", () => {
    const tcp = portList(candidatePorts("atcp", config));
    assert.equal(tcp.length, 1024 - 2);
    assert.equal(tcp[0], 0);
    assert.equal(tcp.at(-1), 1023);
    assert.ok(!tcp.includes(113) && !tcp.includes(139));
    const udp = portList(candidatePorts("audp", { ...config, advancedPortsUdp: 100 }));
    assert.equal(udp.length, 100 - 1); // 67 excluded; 137, 138, 520 are above
  });

  test("listeners are taken out", () => {
    assert.deepEqual(portList(withoutPorts(candidatePorts("stcp", config), portBitmap([11, 22]))), [1, 143]);
  });

  test("isCaptureMode", () => {
    assert.deepEqual((["tcp", "udp", "stcp", "sudp", "atcp", "audp"] as const).filter(isCaptureMode), [
      "stcp",
      "sudp",
      "atcp",
      "audp",
    ]);
  });
});

describe("portRanges", () => {
  test("runs are found and cover exactly the set", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { maxLength: 300 }), (ports) => {
        const ranges = portRanges(portBitmap(ports));
        const back = ranges.flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i));
        assert.deepEqual(
          back,
          [...ports].sort((a, b) => a - b),
        );
        for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]!.from > ranges[i - 1]!.to + 1);
      }),
    );
  });

  test("ignores what is not a port", () => {
    assert.deepEqual(portList(portBitmap([-1, 65536, 1.5, 80])), [80]);
  });
});

describe("captureInterfaces", () => {
  const all: InterfaceInfo[] = [
    { name: "br0", up: true, loopback: false, enslaved: false },
    { name: "eth0", up: true, loopback: false, enslaved: true },
    { name: "eth1", up: false, loopback: false, enslaved: false },
    { name: "lo", up: true, loopback: true, enslaved: false },
    { name: "wg0", up: true, loopback: false, enslaved: false },
  ];
  test("default: up, not loopback, not a bridge or bond port", () => {
    assert.deepEqual(captureInterfaces([], all), ["br0", "wg0"]);
  });
  test("-i: the named ones that exist and are up", () => {
    assert.deepEqual(captureInterfaces(["eth0", "eth1", "nope"], all), ["eth0"]);
  });
});
