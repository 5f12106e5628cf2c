import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BlockedFile } from "../../../src/state/blocked-file.js";
import { formatHistoryLine, HistoryFile, historyLineOf } from "../../../src/state/history.js";

const dir = await mkdtemp(join(tmpdir(), "ps-state-"));
after(() => rm(dir, { recursive: true, force: true }));

/** fail2ban's stock filter.d/portsentry.conf failregex, with <HOST> as fail2ban expands it. */
const FAIL2BAN = /\/(?<host>(?:::f{4,6}:)?[\w\-.^_:]*\w) Port: [0-9]+ (TCP|UDP) Blocked$/;

test("history line in the 1.2 format, matched by fail2ban's regex", () => {
  const when = new Date(1999, 10, 10, 20, 18, 49);
  const line = formatHistoryLine(when, "192.168.2.12", "192.168.2.12", 111, "TCP");
  assert.equal(
    line,
    `${Math.floor(when.getTime() / 1000)} - 11/10/1999 20:18:49 Host: 192.168.2.12/192.168.2.12 Port: 111 TCP Blocked`,
  );
  assert.equal(FAIL2BAN.exec(line)?.groups?.host, "192.168.2.12");
  const v6 = formatHistoryLine(new Date(), "scanner.example", "2001:db8::7", 53, "UDP");
  assert.equal(FAIL2BAN.exec(v6)?.groups?.host, "2001:db8::7");
});

test("history appends in order and never truncates", async () => {
  const h = new HistoryFile(join(dir, "history"));
  await Promise.all(Array.from({ length: 20 }, (_, i) => h.append(`line ${i}`)));
  await h.append("last");
  const lines = (await readFile(h.path, "utf8")).trim().split("\n");
  assert.deepEqual(lines, [...Array.from({ length: 20 }, (_, i) => `line ${i}`), "last"]);
});

test("a block's history line is found in the tail, under any host name; other blocks are not", async () => {
  const h = new HistoryFile(join(dir, "history-tail"));
  const block = { address: "192.0.2.7", port: 143, mode: "tcp" as const, sinceMs: 1_700_000_000_500 };
  assert.equal(await h.hasLineOf(block), false, "no file yet");
  await h.append(historyLineOf({ ...block, address: "192.0.2.77" }));
  await h.append(historyLineOf({ ...block, sinceMs: block.sinceMs + 1000 }));
  await h.append(historyLineOf({ ...block, mode: "udp" }));
  assert.equal(await h.hasLineOf(block), false, "another address, second or protocol is another block");
  await h.append(historyLineOf(block, "scanner.example"));
  assert.equal(await h.hasLineOf(block), true);
  await h.append("x".repeat(100));
  assert.equal(await h.hasLineOf(block, 50), false, "only the tail is read");
});

test("blocked file: exact address match, atomic rewrite, no temp files left", async () => {
  const b = new BlockedFile(join(dir, "blocked.tcp"));
  await b.add("11.2.3.4", "x Host: 11.2.3.4/11.2.3.4 Port: 1 TCP Blocked");
  assert.equal(b.has("1.2.3.4"), false);
  assert.equal(b.has("11.2.3.4"), true);
  await Promise.all(Array.from({ length: 30 }, (_, i) => b.add(`192.0.2.${i}`, `line ${i}`)));
  await b.remove("11.2.3.4");
  const content = await readFile(b.path, "utf8");
  assert.equal(content.trim().split("\n").length, 30);
  assert.doesNotMatch(content, /11\.2\.3\.4/);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes(".tmp")),
    [],
  );
});
