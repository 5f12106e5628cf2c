import assert from "node:assert/strict";
import { test } from "node:test";
import { formatEffectiveConfig } from "../../../src/config/load.js";
import { parseConfig } from "../../../src/config/parse-conf.js";
import { type Config, formatConfigError } from "../../../src/config/types.js";

function parse(text: string): { config?: Config; errors: string[] } {
  const r = parseConfig(text, "/etc/ps/p.conf");
  return r.ok ? { config: r.value, errors: [] } : { errors: r.errors.map(formatConfigError) };
}

test("FLEET_URL: absent is no fleet; redis:// and rediss:// with host, port, db", () => {
  assert.equal(parse("").config?.fleetUrl, undefined);
  assert.deepEqual(parse('FLEET_URL="redis://192.0.2.10"').config?.fleetUrl, {
    tls: false,
    host: "192.0.2.10",
    port: 6379,
    db: 0,
  });
  assert.deepEqual(parse('FLEET_URL="rediss://[2001:db8::1]:6380/3"').config?.fleetUrl, {
    tls: true,
    host: "2001:db8::1",
    port: 6380,
    db: 3,
  });
  const c = parse('FLEET_URL="redis://redis.example:7000/1"').config;
  assert.ok(c);
  assert.match(formatEffectiveConfig(c), /^FLEET_URL="redis:\/\/redis.example:7000\/1"$/m);
});

test("FLEET_URL: credentials, other schemes and bad ports are errors with the line", () => {
  const secret = parse('FLEET_URL="redis://member:hunter2@192.0.2.10"').errors;
  assert.equal(secret.length, 1);
  assert.match(secret[0] ?? "", /^\/etc\/ps\/p.conf:1: FLEET_URL: credentials in the URL/);
  assert.doesNotMatch(secret[0] ?? "", /hunter2/, "the secret is not echoed");
  assert.equal(parse('FLEET_URL="http://192.0.2.10"').errors.length, 1);
  assert.equal(parse('FLEET_URL="redis://192.0.2.10:70000"').errors.length, 1);
  assert.equal(parse('FLEET_URL="redis://192.0.2.10/16"').errors.length, 1);
});

test("fleet files need FLEET_URL; TLS files need rediss://; cert and key go together", () => {
  assert.match(
    parse('FLEET_PASSWORD_FILE="pw"').errors[0] ?? "",
    /FLEET_PASSWORD_FILE: has no effect without FLEET_URL/,
  );
  assert.match(
    parse('FLEET_URL="redis://192.0.2.10"\nFLEET_TLS_CA="/etc/ca.pem"').errors[0] ?? "",
    /:2: FLEET_TLS_CA: needs a rediss:\/\//,
  );
  assert.match(
    parse('FLEET_URL="rediss://192.0.2.10"\nFLEET_TLS_CERT="c.pem"').errors[0] ?? "",
    /FLEET_TLS_CERT: FLEET_TLS_CERT and FLEET_TLS_KEY go together/,
  );
  const c = parse(
    'FLEET_URL="rediss://192.0.2.10"\nFLEET_PASSWORD_FILE="pw"\nFLEET_TLS_CERT="c.pem"\nFLEET_TLS_KEY="k.pem"',
  );
  assert.equal(c.config?.fleetPasswordFile, "/etc/ps/pw", "relative to the config's directory");
  assert.equal(c.config?.fleetTlsKey, "/etc/ps/k.pem");
});

test("FLEET_NAME refuses braces (the hash tag) and FLEET_TRIGGER_WINDOW is 1s to 24h", () => {
  assert.equal(parse('FLEET_NAME="a{b}"').errors.length, 1);
  assert.equal(parse('FLEET_NAME="web-1"').config?.fleetName, "web-1");
  assert.equal(parse('FLEET_TRIGGER_WINDOW="0"').errors.length, 1);
  assert.equal(parse('FLEET_TRIGGER_WINDOW="2d"').errors.length, 1);
  assert.equal(parse('FLEET_TRIGGER_WINDOW="90s"').config?.fleetTriggerWindowSec, 90);
  assert.equal(parse('FLEET_SCAN_TRIGGER="3"').config?.fleetScanTrigger, 3);
});
