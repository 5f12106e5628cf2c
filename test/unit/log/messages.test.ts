import assert from "node:assert/strict";
import { test } from "node:test";
import * as m from "../../../src/log/messages.js";

// Spec §5: these texts are a contract (operators grep them, fail2ban and tests wait for them).
test("start-up lines match spec §5 literally", () => {
  assert.equal(m.starting("0.1.0"), "adminalert: PortSentry 0.1.0 is starting.");
  assert.equal(m.listenTcp(143), "adminalert: Going into listen mode on TCP port: 143");
  assert.equal(m.listenUdp(161), "adminalert: Going into listen mode on UDP port: 161");
  assert.equal(m.stealthListen("TCP", 143), "adminalert: Going into stealth listen mode on TCP port: 143");
  assert.equal(m.stealthListen("UDP", 69), "adminalert: Going into stealth listen mode on UDP port: 69");
  assert.equal(m.advancedMonitor(1024), "adminalert: Advanced mode will monitor first 1024 ports");
  assert.equal(m.advancedExclude(113), "adminalert: Advanced mode will manually exclude port: 113");
  assert.equal(
    m.advancedIgnoredPort("TCP", 22),
    "adminalert: Advanced Stealth scan detection mode activated. Ignored TCP port: 22",
  );
  assert.equal(
    m.bindError("TCP", 143),
    "adminalert: ERROR: could not bind TCP socket: 143. Attempting to continue",
  );
  assert.equal(
    m.bindError("UDP", 69),
    "adminalert: ERROR: could not bind UDP socket: 69. Attempting to continue",
  );
  assert.equal(m.active(), "adminalert: PortSentry is now active and listening.");
});

test("attack lines match spec §5 literally", () => {
  assert.equal(
    m.connectFrom("scanner.example", "192.0.2.7", "TCP", 143),
    "attackalert: Connect from host: scanner.example/192.0.2.7 to TCP port: 143",
  );
  assert.equal(
    m.scanFrom("TCP SYN/Normal scan", "192.0.2.7", "192.0.2.7", "TCP", 111),
    "attackalert: TCP SYN/Normal scan from host: 192.0.2.7/192.0.2.7 to TCP port: 111",
  );
  assert.equal(
    m.scanFrom("UDP scan", "2001:db8::5", "2001:db8::5", "UDP", 161),
    "attackalert: UDP scan from host: 2001:db8::5/2001:db8::5 to UDP port: 161",
  );
  assert.equal(
    m.ipOptions("h.example", "198.51.100.2", "TCP", 79),
    "attackalert: Packet from host: h.example/198.51.100.2 to TCP port: 79 has IP options set (detection avoidance technique).",
  );
  assert.equal(
    m.alreadyBlocked("h.example", "198.51.100.2"),
    "attackalert: Host: h.example/198.51.100.2 is already blocked Ignoring",
  );
  assert.equal(
    m.blockedWrappers("203.0.113.9", "ALL: 203.0.113.9"),
    'attackalert: Host 203.0.113.9 has been blocked via wrappers with string: "ALL: 203.0.113.9"',
  );
  assert.equal(
    m.blockedRoute("203.0.113.9", "/sbin/route add -host 203.0.113.9 reject"),
    'attackalert: Host 203.0.113.9 has been blocked via dropped route using command: "/sbin/route add -host 203.0.113.9 reject"',
  );
  assert.equal(
    m.blockedVia("203.0.113.9", "nftables"),
    "attackalert: Host 203.0.113.9 has been blocked via nftables",
  );
  assert.equal(
    m.externalCommand("203.0.113.9", "/usr/local/bin/notify 203.0.113.9 143"),
    'attackalert: External command run for host: 203.0.113.9 using command: "/usr/local/bin/notify 203.0.113.9 143"',
  );
  assert.equal(
    m.ignoringResponse("TCP"),
    "attackalert: Ignoring TCP response per configuration file setting.",
  );
  assert.equal(
    m.ignoringResponse("UDP"),
    "attackalert: Ignoring UDP response per configuration file setting.",
  );
});

test("shut-down gives the securityalert line, then the adminalert line", () => {
  assert.deepEqual(m.shuttingDown(), [
    "securityalert: PortSentry is shutting down",
    "adminalert: PortSentry is shutting down",
  ]);
});

test("lines added beyond 1.2 keep its shape: tag first, ERROR: for failures", () => {
  const extra = [
    m.stealthPortInUse("TCP", 22),
    m.noPortBound("UDP"),
    m.captureError("eth0", "permission denied"),
    m.reloaded("/etc/portsentry/portsentry.conf"),
    m.reloadFailed("/etc/portsentry/portsentry.conf", "line 3"),
    m.commandFailed("192.0.2.1", "/bin/false", "exit 1"),
    m.blockFailed("192.0.2.1", "nftables", "table missing"),
    m.neverBlock("192.0.2.1", "it is the default gateway"),
    m.blockRateLimited("192.0.2.1", 60),
    m.blockExpired("192.0.2.1"),
    m.unblocked("192.0.2.1"),
    m.unblockFailed("192.0.2.1", "nftables", "gone"),
    m.suppressed(12, "192.0.2.1"),
  ];
  for (const line of extra) assert.match(line, /^(adminalert|attackalert): /);
  assert.equal(
    m.commandFailed("192.0.2.1", "/bin/false", "exit 1"),
    'attackalert: ERROR: command for host: 192.0.2.1 failed: "/bin/false" (exit 1)',
  );
  assert.equal(m.noPortBound("TCP"), "adminalert: ERROR: could not bind any TCP port. Aborting.");
  assert.equal(
    m.blockRateLimited("192.0.2.1", 60),
    "attackalert: Host 192.0.2.1 not blocked: limit of 60 new blocks per minute reached",
  );
});

// Moved here from the reactor, the sensors, the kernel trap's wiring and the control server:
// the texts as they were written inline, byte for byte.
test("responder, sensor, kernel trap and control lines keep their texts", () => {
  const cases: [string, string][] = [
    [m.recordFailed("192.0.2.1", "EIO"), "adminalert: ERROR: could not record block of 192.0.2.1: EIO"],
    [m.routeNotUndone("192.0.2.1"), "adminalert: KILL_ROUTE for 192.0.2.1 not undone: set KILL_ROUTE_UNDO"],
    [m.error("kernel trap: cannot arm: x"), "adminalert: ERROR: kernel trap: cannot arm: x"],
    [m.kernelTrapListFailed("nft gone"), "adminalert: ERROR: kernel trap: nft gone"],
    [m.kernelTrapHandlerFailed("hit", "boom"), "adminalert: ERROR: kernel trap hit handler failed: boom"],
    [m.kernelTrapHandlerFailed("gap", "boom"), "adminalert: ERROR: kernel trap gap handler failed: boom"],
    [
      m.kernelTrapGap("the kernel dropped 3 NFLOG messages"),
      "adminalert: WARNING: kernel trap: the kernel dropped 3 NFLOG messages; checking the kernel's blocks",
    ],
    [m.nflogReadFailed("ENOBUFS"), "adminalert: ERROR: kernel trap: NFLOG read failed (ENOBUFS); re-opening"],
    [m.nflogReopenFailed("EPERM"), "adminalert: ERROR: kernel trap: EPERM; retrying"],
    [
      m.boundInPart("TCP", 143, ["IPv6: EADDRINUSE"]),
      "adminalert: WARNING: TCP port 143 bound only in part (IPv6: EADDRINUSE)",
    ],
    [
      m.boundInPart("UDP", 69, ["IPv4: EACCES", "IPv6: EACCES"]),
      "adminalert: WARNING: UDP port 69 bound only in part (IPv4: EACCES, IPv6: EACCES)",
    ],
    [
      m.outOfFileDescriptors(),
      "adminalert: ERROR: out of file descriptors: raise the open-file limit (LimitNOFILE=, ulimit -n)",
    ],
    [m.controlSocketError("EMFILE"), "adminalert: ERROR: control socket: EMFILE"],
    [
      m.controlRequest("block", "192.0.2.1", "blocked"),
      "adminalert: control request: block 192.0.2.1: blocked",
    ],
    [m.controlTimedOut("unblock", 5000), "adminalert: control command unblock did not finish within 5000 ms"],
    [m.controlCommandFailed("status", "bug"), "adminalert: ERROR: control command status failed: bug"],
    [
      m.staleSocketRemoved("/run/portsentry/control.sock"),
      "adminalert: removed the stale control socket /run/portsentry/control.sock",
    ],
  ];
  for (const [actual, expected] of cases) assert.equal(actual, expected);
});
