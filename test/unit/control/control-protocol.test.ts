import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { COUNTER_HELP, formatMetrics, metricName } from "../../../src/control/metrics.js";
import {
  CONTROL_COMMANDS,
  controlAddress,
  parseRequest,
  requestLine,
  socketPathFor,
} from "../../../src/control/protocol.js";
import { compactPorts, errorLine, okLine, parseResponse } from "../../../src/control/responses.js";
import { STATUS } from "./fixtures.js";

test("request lines round-trip through parseRequest", () => {
  for (const c of CONTROL_COMMANDS) {
    const args = c.minArgs === 0 ? [] : ["192.0.2.1"];
    const line = requestLine(3, c.name, args);
    assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
    assert.deepEqual(parseRequest(line.trim()), { ok: true, request: { v: 1, id: 3, cmd: c.name, args } });
  }
  // args may be left out of a command without arguments.
  assert.deepEqual(parseRequest('{"v":1,"id":0,"cmd":"status"}'), {
    ok: true,
    request: { v: 1, id: 0, cmd: "status", args: [] },
  });
});

test("parseRequest never throws and always answers, whatever it is given", () => {
  const check = (text: string) => {
    const r = parseRequest(text);
    assert.equal(typeof r.ok, "boolean");
    if (!r.ok) {
      assert.match(r.error.code, /^[a-z-]+$/);
      assert.ok(r.error.message.length < 300);
      assert.ok(!/\p{Cc}/u.test(r.error.message), "no control bytes echoed");
    }
  };
  fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.jsonValue(), (v) => check(JSON.stringify(v) ?? "null")),
    { numRuns: 2000 },
  );
  const request = fc.record(
    {
      v: fc.oneof(fc.constant(1), fc.jsonValue()),
      id: fc.oneof(fc.nat(), fc.jsonValue()),
      cmd: fc.oneof(fc.constantFrom(...CONTROL_COMMANDS.map((c) => c.name)), fc.string()),
      args: fc.oneof(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string())), fc.jsonValue()),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(request, (r) => check(JSON.stringify(r))),
    { numRuns: 3000 },
  );
});

test("addresses: canonical text, mapped IPv4 unmapped, the rest refused", () => {
  assert.equal(controlAddress("192.0.2.1"), "192.0.2.1");
  assert.equal(controlAddress("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(controlAddress("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(controlAddress("::ffff:c000:201"), "192.0.2.1");
  for (const bad of [
    "",
    "1.2.3",
    "192.0.2.256",
    "192.0.2.1/32",
    "host.example",
    "::1%lo",
    `${"1".repeat(70)}`,
  ]) {
    assert.equal(controlAddress(bad), undefined, bad);
  }
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
      const c = controlAddress(ip);
      assert.ok(c !== undefined, ip);
      assert.equal(controlAddress(c), c, "canonical is a fixed point");
    }),
  );
});

test("compactPorts: ascending runs of three or more as ranges", () => {
  assert.equal(compactPorts([1, 11, 143, 32771, 32772, 32773, 32774]), "1,11,143,32771-32774");
  assert.equal(compactPorts([138, 137, 139, 139]), "137-139");
  assert.equal(compactPorts([5, 6]), "5,6");
  assert.equal(compactPorts([]), "");
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { maxLength: 200 }), (ports) => {
      const expanded = compactPorts(ports)
        .split(",")
        .filter((s) => s !== "")
        .flatMap((part) => {
          const [a, b] = part.split("-").map(Number);
          return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
        });
      assert.deepEqual(
        expanded,
        [...ports].sort((x, y) => x - y),
      );
    }),
  );
});

test("parseResponse: the envelope, the id and each result's shape are checked", () => {
  const good = okLine(4, STATUS);
  assert.deepEqual(parseResponse(good, 4, "status"), { ok: true, result: STATUS });
  const badResponse = (line: string, cmd: Parameters<typeof parseResponse>[2] = "status", id = 4) => {
    const r = parseResponse(line, id, cmd);
    assert.equal(r.ok, false, line.slice(0, 80));
    return r.ok ? "" : r.error.code;
  };
  assert.equal(badResponse(good, "status", 5), "bad-response", "another id");
  assert.equal(badResponse("not json"), "bad-response");
  assert.equal(badResponse('{"v":2,"id":4,"ok":true,"result":{}}'), "bad-response");
  assert.equal(badResponse('{"v":1,"id":4,"result":{}}'), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, pid: -1 })), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, modes: ["tcp", "xyz"] })), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, counters: { "bad name": 1 } })), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, counters: { hits: "1" } })), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, startedAt: "yesterday" })), "bad-response");
  assert.equal(badResponse(okLine(4, { ...STATUS, sensors: [{ mode: "tcp" }] })), "bad-response");
  assert.equal(
    badResponse(
      okLine(4, [{ address: "1.2.3", mode: "tcp", port: 1, sinceMs: 0, expiresAtMs: 0 }]),
      "blocked",
    ),
    "bad-response",
  );
  assert.equal(
    badResponse(
      okLine(4, [{ address: "192.0.2.1", mode: "tcp", port: 70000, sinceMs: 0, expiresAtMs: 0 }]),
      "blocked",
    ),
    "bad-response",
  );
  assert.equal(
    badResponse(okLine(4, [{ address: "192.0.2.1", ok: true, message: "x" }]), "unblock"),
    "bad-response",
  );
  assert.equal(badResponse(okLine(4, { text: "x" }), "metrics"), "bad-response");
  // A daemon's error answer is passed on (also without an id: busy, line-too-long).
  assert.deepEqual(parseResponse(errorLine(null, "busy", "too many"), 4, "status"), {
    ok: false,
    error: { code: "busy", message: "too many" },
  });
  // Extra fields from a newer daemon are tolerated.
  assert.ok(parseResponse(okLine(4, { ...STATUS, extra: [1] }), 4, "status").ok);
});

test("the socket path is STATE_DIR/portsentry.sock", () => {
  assert.equal(socketPathFor("/var/lib/portsentry"), "/var/lib/portsentry/portsentry.sock");
  assert.equal(socketPathFor("/var/lib/portsentry/"), "/var/lib/portsentry/portsentry.sock");
});

test("metrics: exposition format with HELP and TYPE for every family", () => {
  const text = formatMetrics({
    ...STATUS,
    version: 'x"y\\z\n',
    counters: { ...STATUS.counters, newThing: 3 },
  });
  assert.ok(text.endsWith("\n"));
  const lines = text.trimEnd().split("\n");
  const families = new Map<string, string>();
  for (const line of lines) {
    const help = /^# HELP ([a-z_]+) \S.*$/.exec(line);
    const type = /^# TYPE ([a-z_]+) (counter|gauge)$/.exec(line);
    if (help) continue;
    if (type) {
      families.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-z_]+)(\{[a-z]+="(?:[^"\\\n]|\\["\\n])*"\})? (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    assert.ok(families.has(sample[1]!), `${sample[1]} sampled before its TYPE`);
    assert.ok(!Number.isNaN(Number(sample[3])), line);
  }
  assert.ok(lines.includes('portsentry_info{version="x\\"y\\\\z\\n"} 1'));
  assert.ok(lines.includes("portsentry_hits_total 57"));
  assert.ok(lines.includes("portsentry_held_back_total 0"));
  assert.ok(lines.includes("portsentry_log_suppressed_total 12"));
  assert.ok(lines.includes("portsentry_new_thing_total 3"));
  assert.ok(lines.includes('portsentry_sensor_armed{mode="udp"} 0'));
  assert.ok(lines.includes('portsentry_sensor_ports{mode="tcp"} 7'));
  assert.ok(lines.includes("portsentry_uptime_seconds 7384"));
  assert.ok(lines.includes(`portsentry_start_time_seconds ${Date.parse(STATUS.startedAt) / 1000}`));
  assert.equal(families.get("portsentry_hits_total"), "counter");
  assert.equal(families.get("portsentry_blocked_hosts"), "gauge");
  assert.equal(metricName("decodeDrops"), "portsentry_decode_drops_total");
  for (const name of Object.keys(COUNTER_HELP)) assert.match(metricName(name), /^portsentry_[a-z_]+_total$/);
});
