import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { capUtf8, escapeControls, safeLine } from "../../../src/log/sanitize.js";
import { errnoName, formatRfc3164, rfc3164Timestamp, syslogPriority } from "../../../src/log/syslog.js";

// Local-time constructor: the expected text does not depend on the machine's TZ.
const nov5 = new Date(2026, 10, 5, 8, 3, 9);

test("priority is facility * 8 + level", () => {
  assert.equal(syslogPriority("daemon", "notice"), 29);
  assert.equal(syslogPriority("kern", "emerg"), 0);
  assert.equal(syslogPriority("local3", "err"), 155);
  assert.equal(syslogPriority("local7", "debug"), 191);
  assert.equal(syslogPriority("auth", "warning"), 36);
});

test("timestamp is strftime %h %e %T in local time: day padded with a space", () => {
  assert.equal(rfc3164Timestamp(nov5), "Nov  5 08:03:09");
  assert.equal(rfc3164Timestamp(new Date(2026, 0, 31, 23, 59, 58)), "Jan 31 23:59:58");
});

test("line is <PRI>Mmm dd hh:mm:ss ident[pid]: message, as glibc sends it", () => {
  const line = formatRfc3164("adminalert: PortSentry is now active and listening.", {
    priority: 29,
    date: nov5,
    ident: "portsentry",
    pid: 4242,
  });
  assert.equal(
    line,
    "<29>Nov  5 08:03:09 portsentry[4242]: adminalert: PortSentry is now active and listening.",
  );
});

test("control characters cannot forge a second line or drive a terminal", () => {
  const evil = "evil.example\nattackalert: Host 192.0.2.1 has been blocked\r\u001b[2J\u0000\u202e\\x0a";
  const line = formatRfc3164(evil, { priority: 29, date: nov5, ident: "portsentry", pid: 1 });
  assert.doesNotMatch(line, /[\p{Cc}\u202e]/u);
  assert.ok(
    line.endsWith(
      "evil.example\\x0aattackalert: Host 192.0.2.1 has been blocked\\x0d\\x1b[2J\\x00\\u202e\\\\x0a",
    ),
  );
  assert.equal(escapeControls("plain text: ok/ünïcode"), "plain text: ok/ünïcode");
});

test("a long line is cut to the byte limit, on a character boundary, with a mark", () => {
  const line = formatRfc3164(
    "é".repeat(2000),
    { priority: 29, date: nov5, ident: "portsentry", pid: 1 },
    1024,
  );
  assert.ok(Buffer.byteLength(line) <= 1024);
  assert.ok(line.endsWith("é..."));
  assert.ok(!line.includes("\ufffd"));
});

test("capUtf8: never over the limit, valid text, a prefix of the input (property)", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc.integer({ min: 0, max: 400 }),
      (s, max) => {
        const out = capUtf8(s, max);
        assert.ok(Buffer.byteLength(out) <= max);
        if (Buffer.byteLength(s) <= max) assert.equal(out, s);
        else assert.ok(s.startsWith(out.replace(/\.{0,3}$/, "")));
      },
    ),
  );
});

test("safeLine output never holds a control character (property)", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => {
      assert.doesNotMatch(safeLine(s, 1024), /[\p{Cc}\u2028\u2029]/u);
    }),
  );
});

test("errno numbers from unix-dgram are named", () => {
  assert.equal(errnoName({ code: -2 }), "ENOENT");
  assert.equal(errnoName({ code: -111 }), "ECONNREFUSED");
  assert.equal(errnoName({ code: -11 }), "EAGAIN", "not its alias EWOULDBLOCK");
  assert.equal(errnoName({ code: "EAGAIN" }), "EAGAIN");
});
