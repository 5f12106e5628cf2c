import assert from "node:assert/strict";
import { test } from "node:test";
import { ListenHistory } from "../../../src/detect/listen-history.js";
import { emptyPorts } from "../../../src/port-set.js";

test("a port seen listening stays out of the traps for the grace, per protocol; grace 0 is off", () => {
  const h = new ListenHistory();
  const ports = emptyPorts();
  ports[22] = 1;
  h.noteSnapshot("tcp", ports, 1000);
  assert.equal(h.listenedWithin("tcp", 22, 600_000, 2000), true);
  assert.equal(h.listenedWithin("tcp", 22, 600_000, 601_000), true);
  assert.equal(h.listenedWithin("tcp", 22, 600_000, 601_001), false);
  assert.equal(h.listenedWithin("udp", 22, 600_000, 2000), false);
  assert.equal(h.listenedWithin("tcp", 23, 600_000, 2000), false);
  assert.equal(h.listenedWithin("tcp", 22, 0, 1000), false);
  h.notePort("udp", 123, 5000);
  assert.equal(h.listenedWithin("udp", 123, 1000, 5500), true);
  h.notePort("udp", 123, 10); // never moves back in time
  assert.equal(h.listenedWithin("udp", 123, 1000, 5500), true);
});
