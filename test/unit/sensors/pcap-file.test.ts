import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  bytesSource,
  type CapturedFrame,
  MAX_RECORD_BYTES,
  openCapture,
  type ReadReport,
} from "../../../src/sensors/pcap-file.js";
import { ethernetFrame, ipPacket, PcapngWriter, pcapFile } from "../../helpers/pcap-builder.js";

const A = ethernetFrame({ src: "192.0.2.2", dst: "192.0.2.1", proto: "tcp", sport: 40000, dport: 143 });
const B = ethernetFrame({ src: "2001:db8::2", dst: "2001:db8::1", proto: "udp", sport: 40001, dport: 7 });

interface Read {
  readonly frames: {
    linkType: number;
    data: number[];
    wireLength: number;
    timestampUs: number;
    iface: number;
  }[];
  readonly report: ReadReport;
}

function read(bytes: Uint8Array): Read {
  const opened = openCapture(bytesSource(bytes));
  assert.ok(opened.ok, opened.ok ? "" : opened.reason);
  const frames = [...opened.capture.frames()].map((f: CapturedFrame) => ({
    linkType: f.linkType,
    data: [...f.data],
    wireLength: f.wireLength,
    timestampUs: f.timestampUs,
    iface: f.interfaceIndex,
  }));
  return { frames, report: opened.capture.report };
}

describe("classic pcap", () => {
  const records = [
    { seconds: 1_700_000_000, fraction: 123_456, data: A },
    { seconds: 1_700_000_001, fraction: 999_999, data: B, wireLength: B.length + 100 },
  ];

  for (const littleEndian of [true, false]) {
    test(`${littleEndian ? "little" : "big"}-endian, microseconds`, () => {
      const r = read(pcapFile(records, { littleEndian }));
      assert.deepEqual(r.frames, [
        { linkType: 1, data: [...A], wireLength: A.length, timestampUs: 1_700_000_000_123_456, iface: 0 },
        {
          linkType: 1,
          data: [...B],
          wireLength: B.length + 100,
          timestampUs: 1_700_000_001_999_999,
          iface: 0,
        },
      ]);
      assert.equal(r.report.frames, 2);
      assert.equal(r.report.stopped, undefined);
    });

    test(`${littleEndian ? "little" : "big"}-endian, nanoseconds`, () => {
      const r = read(
        pcapFile([{ seconds: 10, fraction: 123_456_789, data: A }], {
          littleEndian,
          nanos: true,
          linkType: 1,
        }),
      );
      assert.equal(r.frames[0]?.timestampUs, 10_123_456);
    });
  }

  test("the link type comes from the header (FCS bits masked)", () => {
    const raw = ipPacket({ src: "192.0.2.2", dst: "192.0.2.1", proto: "tcp", sport: 1, dport: 2 });
    const r = read(pcapFile([{ seconds: 1, fraction: 0, data: raw }], { linkType: 101 | (1 << 28) }));
    assert.equal(r.frames[0]?.linkType, 101);
  });

  test("a record cut by the end of the file stops the reading, earlier frames stay", () => {
    const whole = pcapFile(records);
    for (const cut of [whole.length - 1, 24 + 16 + A.length + 7, 24 + 16 + A.length + 16 + 3]) {
      const r = read(whole.subarray(0, cut));
      assert.equal(r.frames.length, 1, `cut at ${cut}`);
      assert.deepEqual(r.report.stopped, { reason: "truncated", offset: 24 + 16 + A.length });
    }
  });

  test("an absurd record length stops the reading; a bad record with intact framing is skipped", () => {
    const absurd = pcapFile([{ seconds: 1, fraction: 0, data: A, capturedField: MAX_RECORD_BYTES + 1 }]);
    assert.deepEqual(read(absurd).report.stopped, { reason: "bad-record-length", offset: 24 });

    const skipped = read(
      pcapFile([
        { seconds: 1, fraction: 0, data: A, wireLength: 10 }, // captured > wire
        { seconds: 1, fraction: 2_000_000, data: A }, // µs ≥ 1 s
        { seconds: 2, fraction: 0, data: B },
      ]),
    );
    assert.equal(skipped.frames.length, 1);
    assert.deepEqual(skipped.report.badRecords, { "captured-beyond-wire-length": 1, "bad-timestamp": 1 });
    assert.equal(skipped.report.stopped, undefined);
  });

  test("each pass starts from the beginning with a fresh report", () => {
    const opened = openCapture(bytesSource(pcapFile(records)));
    assert.ok(opened.ok);
    assert.equal([...opened.capture.frames()].length, 2);
    assert.equal([...opened.capture.frames()].length, 2);
    assert.equal(opened.capture.report.frames, 2);
  });
});

describe("pcapng", () => {
  for (const littleEndian of [true, false]) {
    test(`${littleEndian ? "little" : "big"}-endian: interfaces with their own link type and clock`, () => {
      const raw = ipPacket({ src: "192.0.2.3", dst: "192.0.2.1", proto: "tcp", sport: 5, dport: 11 });
      const file = new PcapngWriter(littleEndian)
        .interface(1) // µs
        .other(4, new Uint8Array([1, 2, 3])) // name resolution: skipped
        .interface(101, { tsresol: 9, tsoffsetSec: 100n }) // ns, +100 s
        .interface(1, { tsresol: 0x80 | 10, snapLength: 20 }) // 1/1024 s
        .packet(0, 1_700_000_000_123_456n, A)
        .packet(1, 1_500_000_000_987_654_321n, raw, raw.length + 40)
        .packet(2, 2048n + 512n, B)
        .simple(B) // interface 0; no time of its own
        .obsoletePacket(0, 7_000_001n, A)
        .bytes();
      const r = read(file);
      assert.deepEqual(
        r.frames.map((f) => [f.iface, f.linkType, f.timestampUs, f.wireLength, f.data.length]),
        [
          [0, 1, 1_700_000_000_123_456, A.length, A.length],
          [1, 101, 1_500_000_100_987_654, raw.length + 40, raw.length],
          [2, 1, 2_500_000, B.length, B.length],
          [0, 1, 2_500_000, B.length, B.length],
          [0, 1, 7_000_001, A.length, A.length],
        ],
      );
      assert.deepEqual(r.frames[0]?.data, [...A]);
      assert.equal(r.report.skippedBlocks, 1);
      assert.equal(r.report.untimed, 1);
      assert.equal(r.report.stopped, undefined);
    });
  }

  test("a second section (other byte order) has its own interfaces", () => {
    const first = new PcapngWriter(true).interface(1).packet(0, 1n, A).bytes();
    const second = new PcapngWriter(false)
      .interface(101)
      .packet(0, 2n, ipPacket({ src: "192.0.2.2", dst: "192.0.2.1", proto: "udp", sport: 1, dport: 7 }))
      .packet(1, 3n, A)
      .bytes();
    const joined = new Uint8Array(first.length + second.length);
    joined.set(first);
    joined.set(second, first.length);
    const r = read(joined);
    assert.deepEqual(
      r.frames.map((f) => f.linkType),
      [1, 101],
    );
    assert.deepEqual(r.report.badRecords, { "unknown-interface": 1 });
  });

  test("a corrupt interface block is counted, and so is each packet of that interface", () => {
    // if_tsresol 10^60: no clock ticks that fast, the block is refused.
    const r = read(
      new PcapngWriter().interface(1, { tsresol: 60 }).packet(0, 1n, A).packet(0, 2n, B).bytes(),
    );
    assert.equal(r.frames.length, 0);
    assert.equal(r.report.frames, 0);
    assert.deepEqual(r.report.badRecords, { "bad-interface-block": 1, "unknown-interface": 2 });
    assert.equal(r.report.stopped, undefined, "the framing is intact: nothing stopped");
    // A good interface after the bad one keeps its index (1): its packets are read.
    const mixed = read(
      new PcapngWriter().interface(1, { tsresol: 60 }).interface(1).packet(1, 1n, A).bytes(),
    );
    assert.equal(mixed.frames.length, 1);
    assert.equal(mixed.frames[0]?.iface, 1);
    assert.deepEqual(mixed.report.badRecords, { "bad-interface-block": 1 });
  });

  test("a packet block for an unknown interface is skipped; a bad trailer or length stops", () => {
    const good = new PcapngWriter().interface(1).packet(3, 1n, A).packet(0, 2n, B).bytes();
    const r = read(good);
    assert.equal(r.frames.length, 1);
    assert.deepEqual(r.report.badRecords, { "unknown-interface": 1 });

    const trailer = good.slice();
    trailer[trailer.length - 1] = 0xff; // last block's trailing length (little-endian high byte)
    const t = read(trailer);
    assert.equal(t.frames.length, 0);
    assert.equal(t.report.stopped?.reason, "bad-block-trailer");

    const odd = good.slice();
    const firstPacket = 28 + 20; // SHB 28 bytes, IDB 20 bytes
    new DataView(odd.buffer).setUint32(firstPacket + 4, 13, true);
    assert.equal(read(odd).report.stopped?.reason, "bad-block-length");
    assert.equal(read(good.subarray(0, good.length - 2)).report.stopped?.reason, "truncated");
  });
});

describe("not a capture", () => {
  test("unknown magic, short files and bad headers are refused with a reason", () => {
    for (const bytes of [
      new Uint8Array(0),
      new Uint8Array([0xa1, 0xb2]),
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
      pcapFile([]).subarray(0, 20),
    ]) {
      const r = openCapture(bytesSource(bytes));
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0);
    }
    const v3 = pcapFile([]);
    v3[4] = 3;
    const r = openCapture(bytesSource(v3));
    assert.ok(!r.ok && /version 3/.test(r.reason));
  });

  test("property: corrupted captures never throw, and reading ends", () => {
    const pcap = pcapFile([
      { seconds: 1, fraction: 1, data: A },
      { seconds: 2, fraction: 2, data: B },
    ]);
    const ng = new PcapngWriter(false).interface(1, { tsresol: 9 }).packet(0, 5n, A).simple(B).bytes();
    fc.assert(
      fc.property(
        fc.constantFrom(pcap, ng),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.nat(),
        (base, edits, cut) => {
          const bytes = base.slice(0, Math.max(4, base.length - (cut % 16)));
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          const opened = openCapture(bytesSource(bytes));
          if (!opened.ok) return;
          let n = 0;
          for (const f of opened.capture.frames()) {
            assert.ok(f.data.length <= f.wireLength);
            n++;
          }
          assert.ok(n <= bytes.length / 12);
          assert.equal(opened.capture.report.frames, n);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("property: random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (tail, ng) => {
        const head = ng ? new PcapngWriter().bytes().subarray(0, 12) : pcapFile([]);
        const bytes = new Uint8Array(head.length + tail.length);
        bytes.set(head);
        bytes.set(tail, head.length);
        const opened = openCapture(bytesSource(bytes));
        let n = 0;
        if (opened.ok) for (const f of opened.capture.frames()) n += f.data.length >= 0 ? 1 : 0;
        assert.ok(n <= bytes.length / 12);
      }),
      { numRuns: 3000 },
    );
  });
});
