import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { portBitmap } from "../../../src/port-set.js";
import { ListenerGate, type WaitingBatch } from "../../../src/sensors/listener-gate.js";
import { ListenerTable } from "../../../src/sensors/listening.js";
import {
  type ProbeRecordFields,
  RECORD_BYTES,
  recordAnswered,
  recordDstPort,
  recordFamily,
  recordIface,
  recordIpOptions,
  recordProtocol,
  recordSource,
  recordsView,
  recordTcpFlags,
  recordTsUs,
  writeRecord,
} from "../../../src/sensors/probe-record.js";

function records(list: readonly Partial<ProbeRecordFields>[]): Buffer {
  const b = Buffer.alloc(list.length * RECORD_BYTES);
  const source = new Uint8Array([192, 0, 2, 7, ...new Array<number>(12).fill(0)]);
  list.forEach((r, i) => {
    const fields: ProbeRecordFields = {
      iface: 0,
      family: 4,
      protocol: 6,
      tcpFlags: 0x02,
      ipOptions: false,
      answered: false,
      dstPort: 143,
      tsUs: 1,
      ...r,
    };
    writeRecord(b, i * RECORD_BYTES, fields, source, 0);
  });
  return b;
}

describe("probe record", () => {
  test("every field written is read back; the source as canonical text", () => {
    const b = Buffer.alloc(2 * RECORD_BYTES);
    const v6 = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 7]);
    const fields: ProbeRecordFields = {
      iface: 3,
      family: 6,
      protocol: 17,
      tcpFlags: 0,
      ipOptions: true,
      answered: true,
      dstPort: 65535,
      tsUs: 1_796_400_000_123_456,
    };
    writeRecord(b, RECORD_BYTES, fields, v6, 0);
    const view = recordsView(b, 2);
    const at = RECORD_BYTES;
    assert.deepEqual(
      [
        recordIface(view, at),
        recordFamily(view, at),
        recordProtocol(view, at),
        recordTcpFlags(view, at),
        recordIpOptions(view, at),
        recordAnswered(view, at),
        recordDstPort(view, at),
        recordTsUs(view, at),
        recordSource(view, at),
      ],
      [3, 6, 17, 0, true, true, 65535, 1_796_400_000_123_456, "2001:db8::7"],
    );
    assert.deepEqual(
      [recordFamily(view, 0), recordDstPort(view, 0)],
      [0, 0],
      "the first record is untouched",
    );
  });
});

describe("listener gate", () => {
  const table = (now: { ms: number }, listening: number[]) =>
    new ListenerTable({
      monoMs: () => now.ms,
      minIntervalMs: 10,
      read: async () => portBitmap(listening),
    });

  test("a batch is released only after a snapshot begun after it arrived, in order", async () => {
    const now = { ms: 100 };
    const listeners = table(now, []);
    await listeners.refresh("tcp"); // a snapshot from before the batches
    const released: WaitingBatch<string>[] = [];
    const gate = new ListenerGate<string>(
      listeners,
      () => now.ms,
      100,
      (b) => released.push(b),
    );
    now.ms = 200;
    const view = records([{ dstPort: 1 }, { dstPort: 2, answered: true }, { dstPort: 3 }]);
    const first = gate.copy("first", view, 3, 2, now.ms, (at) => !recordAnswered(view, at));
    assert.ok(first);
    assert.deepEqual([first.n, first.hasTcp, first.hasUdp], [2, true, false]);
    assert.deepEqual([recordDstPort(first.b, 0), recordDstPort(first.b, RECORD_BYTES)], [1, 3]);
    const secondView = records([{ dstPort: 4, protocol: 17 }]);
    const second = gate.copy("second", secondView, 1, 1, now.ms, () => true);
    assert.ok(second);
    gate.push(first);
    gate.push(second);
    assert.equal(released.length, 0, "the snapshot at 100 ms is older than the batch");
    const deadline = Date.now() + 5000;
    while (released.length < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      released.map((b) => b.tag),
      ["first", "second"],
    );
    assert.ok(listeners.snapshotMs("tcp") >= 200 && listeners.snapshotMs("udp") >= 200);
    gate.close();
  });

  test("past the bound of waiting records a batch is dropped and counted", () => {
    const now = { ms: 0 };
    const gate = new ListenerGate<number>(
      table(now, []),
      () => now.ms,
      3,
      () => {},
    );
    const view = records([{}, {}]);
    assert.ok(gate.copy(1, view, 2, 2, 0, () => true));
    assert.equal(
      gate.copy(2, view, 2, 2, 0, () => true),
      undefined,
    );
    assert.equal(gate.backlogDropped, 2);
    gate.close();
  });
});
