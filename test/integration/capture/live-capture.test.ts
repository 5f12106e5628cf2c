/**
 * The libpcap addon (native/live_capture.c via src/sensors/capture.ts) on loopback, in this
 * process: frames arrive whole with their lengths and times, a flood arrives in batches, close
 * releases the socket at once, and open errors say what is wrong. Root only (CAP_NET_RAW).
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { decodeFrame, PacketFacts } from "../../../src/decode/packet.js";
import { DEFAULT_CAPTURE_OPTIONS, type LiveCapture, openLiveCapture } from "../../../src/sensors/capture.js";
import { rootSkip, waitFor } from "../../netns/netns.js";

/** The compiled capture module, for a child process to import. */
const CAPTURE_JS = new URL("../../../src/sensors/capture.js", import.meta.url).href;

interface Seen {
  readonly port: number;
  readonly payload: number;
  readonly capturedLength: number;
  readonly wireLength: number;
  readonly tsUs: number;
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

describe("live capture addon on loopback", { skip: rootSkip() }, () => {
  let receiver: Socket;
  let sender: Socket;
  let port = 0;

  before(async () => {
    receiver = createSocket("udp4");
    await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
    port = receiver.address().port;
    receiver.on("message", () => {});
    sender = createSocket("udp4");
  });

  after(() => {
    receiver.close();
    sender.close();
  });

  function send(count: number, size: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let left = count;
      for (let i = 0; i < count; i++) {
        sender.send(Buffer.alloc(size, i & 0xff), port, "127.0.0.1", (err) => {
          if (err) reject(err);
          else if (--left === 0) resolve();
        });
      }
    });
  }

  function capture(seen: Seen[], options: Partial<typeof DEFAULT_CAPTURE_OPTIONS> = {}): LiveCapture {
    const facts = new PacketFacts();
    const r = openLiveCapture(
      "lo",
      { ...DEFAULT_CAPTURE_OPTIONS, ...options, filter: `udp and dst port ${port}` },
      (frame, capturedLength, linkType, wireLength, tsUs) => {
        assert.equal(decodeFrame(frame, linkType, facts, wireLength, capturedLength), "ok");
        seen.push({ port: facts.dstPort, payload: facts.payloadLength, capturedLength, wireLength, tsUs });
      },
    );
    assert.ok(r.ok, r.ok ? "" : r.error);
    return r.capture;
  }

  test("each datagram arrives once, with its lengths and the kernel's time", async () => {
    const seen: Seen[] = [];
    const c = capture(seen);
    try {
      const t0 = Date.now() * 1000;
      await send(20, 600);
      await waitFor(() => seen.length >= 20, { timeoutMs: 5000, what: "20 frames" });
      for (const s of seen) {
        assert.equal(s.port, port);
        assert.equal(s.payload, 600);
        // Cut at the snap length; the wire length is the whole frame (14 + 20 + 8 + 600).
        assert.equal(s.capturedLength, DEFAULT_CAPTURE_OPTIONS.snapLength);
        assert.equal(s.wireLength, 642);
        assert.ok(Math.abs(s.tsUs - t0) < 10_000_000, `timestamp ${s.tsUs} vs ${t0}`);
      }
      assert.equal(c.stats()?.dropped, 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 20, "no duplicates");
    } finally {
      c.close();
    }
  });

  test("a burst larger than a batch arrives whole, a batch at a time, none dropped", async () => {
    const seen: Seen[] = [];
    const c = capture(seen, { slotsPerBatch: 8 });
    try {
      await send(3000, 10);
      await waitFor(() => seen.length >= 3000, { timeoutMs: 10_000, what: "3000 frames" });
      assert.ok(seen.every((s) => s.payload === 10 && s.capturedLength === s.wireLength));
      assert.equal(c.stats()?.dropped, 0);
    } finally {
      c.close();
    }
  });

  test("close releases the socket at once and stops delivery; drain delivers what is queued", async () => {
    const baseline = openFds();
    const seen: Seen[] = [];
    const c = capture(seen);
    assert.equal(openFds(), baseline + 1, "one packet socket");
    // Sent by another process while this one's event loop is blocked: they wait in the ring.
    const SEND_JS = `const s=require("dgram").createSocket("udp4");let n=5;for(let i=0;i<5;i++)s.send("x",${port},"127.0.0.1",()=>{if(--n===0)s.close()})`;
    execFileSync(process.execPath, ["-e", SEND_JS]);
    assert.equal(seen.length, 0);
    c.drain();
    assert.equal(seen.length, 5, "drain hands over what the ring holds, at once");
    c.close();
    assert.equal(openFds(), baseline, "released without waiting for a packet");
    assert.equal(c.stats(), undefined);
    c.close(); // idempotent
    await send(5, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 5, "nothing after close");
  });

  test("an interface that goes away: the capture says so once, and closes cleanly", () => {
    // In a network namespace of its own (unshare -n), gone when the process ends.
    const script = `
      import { execFileSync } from "node:child_process";
      import { DEFAULT_CAPTURE_OPTIONS, openLiveCapture } from ${JSON.stringify(CAPTURE_JS)};
      execFileSync("ip", ["link", "add", "psgone0", "type", "veth", "peer", "name", "psgone1"]);
      execFileSync("ip", ["link", "set", "psgone0", "up"]);
      const failures = [];
      const r = openLiveCapture("psgone0", { ...DEFAULT_CAPTURE_OPTIONS, filter: "", onFailure: (e) => failures.push(e) }, () => {});
      if (!r.ok) throw new Error(r.error);
      execFileSync("ip", ["link", "del", "psgone0"]);
      const t0 = Date.now();
      while (failures.length === 0 && Date.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 20));
      await new Promise((res) => setTimeout(res, 200));
      r.capture.close();
      console.log(JSON.stringify(failures));`;
    const out = execFileSync("unshare", ["-n", process.execPath, "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 20_000,
    });
    const failures = JSON.parse(out) as string[];
    assert.equal(failures.length, 1, out);
    assert.match(failures[0] ?? "", /^psgone0: .*interface/);
  });

  test("open errors: a missing interface and a filter that does not compile", () => {
    const missing = openLiveCapture("nosuchif0", { ...DEFAULT_CAPTURE_OPTIONS, filter: "" }, () => {});
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? "" : missing.error, /nosuchif0 does not exist/);
    const badFilter = openLiveCapture("lo", { ...DEFAULT_CAPTURE_OPTIONS, filter: "tcp and and" }, () => {});
    assert.equal(badFilter.ok, false);
    assert.match(badFilter.ok ? "" : badFilter.error, /filter does not compile/);
  });
});
