import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyTcp, isProbe, TcpFlag, UDP_SCAN } from "../../../src/detect/classify.js";

const { FIN, SYN, RST, PSH, ACK, URG, ECE, CWR } = TcpFlag;

test("the four named TCP scans (spec §4)", () => {
  assert.deepEqual(classifyTcp(0), { kind: "null", name: "TCP NULL scan" });
  assert.deepEqual(classifyTcp(FIN | PSH | URG), { kind: "xmas", name: "TCP XMAS scan" });
  assert.deepEqual(classifyTcp(FIN), { kind: "fin", name: "TCP FIN scan" });
  assert.deepEqual(classifyTcp(SYN), { kind: "syn", name: "TCP SYN/Normal scan" });
  assert.deepEqual(UDP_SCAN, { kind: "udp", name: "UDP scan" });
});

test("ECE and CWR never change the classification", () => {
  for (const extra of [ECE, CWR, ECE | CWR]) {
    assert.equal(classifyTcp(SYN | extra).name, "TCP SYN/Normal scan"); // ECN-capable SYN
    assert.equal(classifyTcp(extra).name, "TCP NULL scan");
    assert.equal(classifyTcp(FIN | extra).name, "TCP FIN scan");
    assert.equal(classifyTcp(FIN | PSH | URG | extra).name, "TCP XMAS scan");
  }
});

test("the Unknown line lists the six flags in 1.2's order", () => {
  assert.equal(
    classifyTcp(SYN | FIN).name,
    "Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 0 PSH: 0 URG: 0 RST: 0",
  );
  assert.equal(
    classifyTcp(ACK | RST | URG).name,
    "Unknown Type: TCP Packet Flags: SYN: 0 FIN: 0 ACK: 1 PSH: 0 URG: 1 RST: 1",
  );
  assert.equal(
    classifyTcp(0xff).name,
    "Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 1 PSH: 1 URG: 1 RST: 1",
  );
  assert.equal(classifyTcp(PSH).kind, "unknown");
  assert.equal(classifyTcp(FIN | PSH).kind, "unknown");
});

test("XMAS is exactly FIN+PSH+URG among the six flags", () => {
  // PortSentry 1.2 also called FIN+PSH+URG with SYN/ACK/RST added "XMAS"; the spec's
  // literal reading (chosen here) reports those as Unknown with every flag listed.
  assert.equal(classifyTcp(FIN | PSH | URG | SYN).kind, "unknown");
  assert.equal(classifyTcp(FIN | PSH | URG | SYN).name.includes("SYN: 1 FIN: 1"), true);
});

test("every one of the 256 flag bytes maps to exactly one consistent class", () => {
  for (let flags = 0; flags < 256; flags++) {
    const c = classifyTcp(flags);
    const six = flags & 0x3f;
    const named: Record<number, string> = { 0: "null", 41: "xmas", [FIN]: "fin", [SYN]: "syn", [ACK]: "ack" };
    named[FIN | ACK] = "maimon";
    const expected = named[six] ?? "unknown";
    assert.equal(c.kind, expected, `flags 0x${flags.toString(16)}`);
    assert.equal(classifyTcp(flags), c, "precomputed: the same object every time");
    assert.ok(Object.isFrozen(c));
  }
});

test("DETECT_ACK_SCANS' probes carry nmap's names; a Window scan is an ACK scan on the wire", () => {
  assert.deepEqual(classifyTcp(ACK), { kind: "ack", name: "TCP ACK scan" });
  assert.deepEqual(classifyTcp(FIN | ACK), { kind: "maimon", name: "TCP Maimon scan" });
  assert.equal(classifyTcp(ACK | PSH).kind, "unknown");
});

test("isProbe: ACK or RST means an established conversation (spec §3)", () => {
  for (const flags of [0, SYN, FIN, FIN | PSH | URG, SYN | ECE | CWR, SYN | FIN, PSH, URG]) {
    assert.equal(isProbe(flags), true, `0x${flags.toString(16)}`);
  }
  for (const flags of [ACK, RST, SYN | ACK, RST | ACK, FIN | ACK, PSH | ACK, 0xff]) {
    assert.equal(isProbe(flags), false, `0x${flags.toString(16)}`);
  }
});
