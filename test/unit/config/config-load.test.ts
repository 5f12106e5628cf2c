import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig, loadIgnoreFile, MAX_CONFIG_BYTES } from "../../../src/config/load.js";
import { formatConfigError } from "../../../src/config/types.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "pscfg-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string | Buffer, mode = 0o644): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

test("loadConfig reads a file and resolves relative paths against its directory", async () => {
  mkdirSync(join(dir, "etc"), { recursive: true });
  const path = write("etc/ps.conf", 'IGNORE_FILE="portsentry.ignore"\nHISTORY_FILE="../var/history"\n');
  const r = await loadConfig(path);
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  assert.equal(r.value.file, path);
  assert.equal(r.value.ignoreFile, join(dir, "etc/portsentry.ignore"));
  assert.equal(r.value.historyFile, join(dir, "var/history"));
});

test("loadConfig of the shipped etc/portsentry.conf and its ignore file", async () => {
  const r = await loadConfig(join(ROOT, "etc/portsentry.conf"));
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  const ignore = await loadIgnoreFile(r.value.ignoreFile);
  assert.ok(ignore.ok);
  assert.ok(ignore.value.matches("127.0.0.1"));
});

test("a missing file is one error on line 0 with a hint", async () => {
  const path = join(dir, "nope.conf");
  const r = await loadConfig(path);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map(formatConfigError), [
    `${path}: cannot read: no such file; create it (see etc/portsentry.conf) or name another file with -c FILE`,
  ]);
  assert.equal(r.errors[0]!.line, 0);
  const i = await loadIgnoreFile(join(dir, "nope.ignore"));
  assert.ok(!i.ok);
  assert.match(formatConfigError(i.errors[0]!), /no such file; create it \(it may be empty/);
});

test("refused: a directory, a FIFO (without blocking), a world-writable file, a huge file", async () => {
  const cases: [string, RegExp][] = [];
  const sub = join(dir, "a-directory");
  mkdirSync(sub);
  cases.push([sub, /cannot read: (is a directory|not a regular file)/]);
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  cases.push([fifo, /cannot read: not a regular file/]);
  cases.push([
    write("open.conf", 'SCAN_TRIGGER="1"\n', 0o666),
    /refusing a world-writable file: anyone could/,
  ]);
  cases.push([write("huge.conf", Buffer.alloc(MAX_CONFIG_BYTES + 1, 35)), /file is too large/]);
  for (const [path, pattern] of cases) {
    const r = await loadConfig(path);
    assert.equal(r.ok, false, path);
    if (!r.ok) {
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0]!.line, 0);
      assert.match(formatConfigError(r.errors[0]!), pattern);
    }
  }
});

test("invalid UTF-8 in a value is reported with its line", async () => {
  const path = write(
    "latin1.conf",
    Buffer.concat([Buffer.from('# caf\xe9\nPORT_BANNER="caf', "latin1"), Buffer.from([0xe9, 0x22, 0x0a])]),
  );
  const r = await loadConfig(path);
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(formatConfigError), [
    `${path}:2: PORT_BANNER: contains bytes that are not valid UTF-8 at column 17`,
  ]);
});

test("loadIgnoreFile reports bad lines with the file's path", async () => {
  const path = write("bad.ignore", "192.0.2.1\nnot-an-ip\n");
  const r = await loadIgnoreFile(path);
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(formatConfigError), [
    `${path}:2: "not-an-ip" is not an address: host names are not resolved; write the address`,
  ]);
});
