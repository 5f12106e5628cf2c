import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CommandFeed, followChanges } from "../../../src/sensors/command-feed.js";
import { HostFactsWatch } from "../../../src/sensors/host-facts-watch.js";
import { waitFor } from "../../netns/netns.js";

test("a burst of lines is one change; the feed is live while the command runs", async () => {
  // Two lines at once, then the command waits (bounded) until closed.
  const feed = new CommandFeed(["sh", "-c", "echo a; echo b; exec sleep 30"], 50);
  let changes = 0;
  feed.onChange(() => changes++);
  try {
    await waitFor(() => feed.live && changes > 0, { timeoutMs: 5_000, what: "the first change" });
    assert.equal(changes, 1);
  } finally {
    feed.close();
  }
  assert.equal(feed.live, false);
});

test("a command that ends reports one last change and is no longer live", async () => {
  const feed = new CommandFeed(["sh", "-c", "exit 0"], 10);
  let changes = 0;
  feed.onChange(() => changes++);
  try {
    await waitFor(() => changes > 0, { timeoutMs: 5_000, what: "the change at exit" });
    assert.equal(feed.live, false);
  } finally {
    feed.close();
  }
});

test("a command that cannot start is not live (the owner keeps its timer)", async () => {
  const feed = new CommandFeed(["/nonexistent/monitor"], 10);
  try {
    await waitFor(() => !feed.live, { timeoutMs: 5_000, what: "not live" });
    assert.equal(feed.live, false);
  } finally {
    feed.close();
  }
});

test("a replaced resolv.conf is a change of the host facts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ps-feed-"));
  const watch = new HostFactsWatch(join(dir, "resolv.conf"), ["sh", "-c", "exec sleep 30"]);
  let changes = 0;
  watch.onChange(() => changes++);
  try {
    await waitFor(() => watch.live, { timeoutMs: 5_000, what: "the monitor started" });
    await writeFile(join(dir, "other.conf"), "not watched\n");
    await writeFile(join(dir, "resolv.conf"), "nameserver 192.0.2.53\n");
    await waitFor(() => changes > 0, { timeoutMs: 5_000, what: "the change of resolv.conf" });
  } finally {
    watch.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("followChanges: acts on every change, and on a timer only while the watch is not live", async () => {
  const listeners: Array<() => void> = [];
  const watch = { live: true, onChange: (l: () => void) => void listeners.push(l) };
  let acts = 0;
  const stop = followChanges(watch, 20, () => acts++);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(acts, 0, "live: no timer");
  for (const l of listeners) l();
  assert.equal(acts, 1, "a change acts at once");
  watch.live = false;
  for (const l of listeners) l(); // the watch reports its end as one last change
  await waitFor(() => acts >= 4, { timeoutMs: 5_000, what: "the fallback timer acting while not live" });
  stop();
  const stopped = acts;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(acts, stopped, "stopped: no more");
});

test("followChanges: a timer armed before the watch went live does not act once it has", async () => {
  // A CommandFeed is live only once its command has started: followChanges arms its timer first.
  const watch = { live: false, onChange: (_l: () => void) => {} };
  let acts = 0;
  const stop = followChanges(watch, 30, () => acts++);
  watch.live = true;
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(acts, 0, "live by the time the timer fired: nothing to do, no further timer");
  stop();
});
