// Proves the namespace harness: reachability inside the lab, isolation from everything else,
// teardown with processes still running, and cleanup after a crashed test process.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  cleanupStaleLabs,
  createLab,
  type Lab,
  type LabHost,
  listNamespaces,
  rootSkip,
  waitFor,
  waitForFileContains,
} from "./netns.js";

const HARNESS_URL = new URL("./netns.js", import.meta.url).href;
const TCP_PORT = 8080;

// A dual-stack listener that greets and reports each peer's address.
const LISTENER_JS = `require("net").createServer((s) => {
    s.on("error", () => {}); // nmap -sT resets at once
    console.log("conn " + s.remoteAddress); s.end("hello\\n"); })
  .listen(${TCP_PORT}, "::", () => console.log("listening"));`;
// Connects to argv[1]:argv[2] and prints what it receives.
const CLIENT_JS = `const s = require("net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
  let got = ""; s.on("data", (c) => { got += c; }); s.on("end", () => process.stdout.write(got));
  s.on("error", (e) => { console.error(e.message); process.exit(2); });`;

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Gone, or a zombie waiting to be reaped: either way no longer running. */
function pidGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** One ICMP echo, with ping when installed, else with nmap's ICMP echo probe (raw IP, no ARP ping). */
async function echo(lab: Lab, from: LabHost, address: string): Promise<void> {
  if (onPath("ping")) {
    await lab.execOk(from, ["ping", "-c1", "-W1", address], { timeoutMs: 5_000 });
    return;
  }
  const family = address.includes(":") ? ["-6"] : [];
  const result = await lab.execOk(
    from,
    ["timeout", "5", "nmap", ...family, "-n", "-sn", "-PE", "--send-ip", "--reason", address],
    { timeoutMs: 8_000 },
  );
  assert.match(result.stdout, /Host is up, received echo-reply/, result.stdout);
}

/** Runs a Node script in a fresh process (not a lab process) and returns its first stdout line. */
function startChild(script: string): { child: ReturnType<typeof spawn>; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
    });
    child.once("exit", (code) => reject(new Error(`child exited ${code} before printing: ${err}`)));
  });
  return { child, firstLine };
}

test("waitFor names what it awaited on timeout", async () => {
  await assert.rejects(
    waitFor(() => false, { timeoutMs: 50, what: "the moon to rise" }),
    /timed out after 50 ms waiting for the moon to rise/,
  );
  assert.equal(await waitFor(() => 42, { timeoutMs: 50 }), 42);
});

test("waitForFileContains sees text written later", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "psn-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "log");
  const writer = setTimeout(() => void writeFile(file, "a\nPortSentry is now active and listening.\n"), 30);
  t.after(() => clearTimeout(writer));
  const text = await waitForFileContains(file, /now active/, 10_000);
  assert.match(text, /listening/);
  await assert.rejects(waitForFileContains(join(dir, "missing"), "x", 50), /"x" in file .*missing/);
});

describe("network namespace lab", { skip: rootSkip() }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ hosts: 2, name: "selftest" });
  });
  after(() => lab?.destroy());

  test("creates target and two scanners with documentation addresses", async () => {
    assert.deepEqual(
      [lab.target.v4, lab.target.v6, ...lab.scanners.flatMap((s) => [s.v4, s.v6])],
      ["192.0.2.1", "2001:db8::1", "192.0.2.2", "2001:db8::2", "192.0.2.3", "2001:db8::3"],
    );
    assert.equal(lab.scanner(2), lab.scanners[1]);
    for (const ns of lab.namespaces) assert.ok(listNamespaces().includes(ns), ns);
    const ifaces = [lab.target.iface, ...lab.scanners.flatMap((s) => [s.iface, s.peerIface])];
    for (const name of ifaces) assert.ok(name.length <= 15, name);
    for (const ns of lab.namespaces) {
      const addrs = await lab.execOk(ns, ["ip", "-o", "addr", "show"]);
      assert.match(addrs.stdout, /\blo\b.*127\.0\.0\.1/);
      assert.doesNotMatch(addrs.stdout, /tentative/);
    }
  });

  test("ICMP echo reaches the target over v4 and v6 from both scanners", async () => {
    for (const scanner of lab.scanners) {
      await echo(lab, scanner, lab.target.v4);
      await echo(lab, scanner, lab.target.v6);
    }
  });

  test("TCP from each scanner reaches a listener in the target", async () => {
    const listener = lab.spawn(lab.target, ["node", "-e", LISTENER_JS]);
    await lab.waitForOutput(listener, "listening", 5_000, "stdout");
    for (const scanner of lab.scanners) {
      for (const address of [lab.target.v4, lab.target.v6]) {
        const reply = await lab.execOk(scanner, ["node", "-e", CLIENT_JS, address, String(TCP_PORT)], {
          timeoutMs: 5_000,
        });
        assert.equal(reply.stdout, "hello\n");
      }
      await lab.waitForOutput(listener, `conn ::ffff:${scanner.v4}\n`, 10_000);
      await lab.waitForOutput(listener, `conn ${scanner.v6}\n`, 10_000);
    }
    const scan = await lab.execOk(
      lab.scanner(1),
      ["timeout", "10", "nmap", "-n", "-Pn", "-sT", "-p", String(TCP_PORT), lab.target.v4],
      { timeoutMs: 15_000 },
    );
    assert.match(scan.stdout, new RegExp(`${TCP_PORT}/tcp\\s+open`));
    const stopped = await listener.stop();
    assert.equal(stopped.signal, "SIGTERM", `${JSON.stringify(stopped)}${listener.tail()}`);
  });

  test("nothing routes outside the lab", async () => {
    for (const ns of lab.namespaces) {
      for (const family of ["-4", "-6"]) {
        const routes = await lab.execOk(ns, ["ip", family, "route", "show", "default"]);
        assert.equal(routes.stdout.trim(), "", `default route in ${ns}`);
      }
      for (const outside of ["198.51.100.1", "203.0.113.1", "2001:db8:ffff::1"]) {
        const lookup = await lab.exec(ns, ["ip", "route", "get", outside]);
        assert.notEqual(lookup.code, 0, `${outside} routable from ${ns}: ${lookup.stdout}`);
        assert.match(lookup.stderr, /unreachable/i);
      }
    }
  });

  test("exec timeout kills the whole process group", async () => {
    const script = `const c = require("child_process").spawn("sleep", ["30"], { stdio: "ignore" });
      console.log(c.pid); setInterval(() => {}, 1000);`;
    const result = await lab.exec(lab.scanner(1), ["node", "-e", script], { timeoutMs: 5_000 });
    assert.equal(result.timedOut, true);
    assert.equal(result.ok, false);
    assert.equal(result.signal, "SIGKILL");
    const sleepPid = Number(result.stdout.trim());
    assert.ok(sleepPid > 0, `child pid printed: ${result.stdout}`);
    await waitFor(() => pidGone(sleepPid), {
      timeoutMs: 10_000,
      what: `grandchild sleep ${sleepPid} to die`,
    });
    await assert.rejects(lab.execOk(lab.target, ["false"]), /\[false\] in .*: exit 1/);
  });

  test("waitForOutput fails fast when the process exits without the text", async () => {
    const proc = lab.spawn(lab.target, ["node", "-e", "console.error('boom'); process.exit(3)"]);
    await assert.rejects(
      lab.waitForOutput(proc, /now active/, 5_000),
      /exited with code 3 before printing[\s\S]*boom/,
    );
  });

  test("refuses namespaces of other labs", async () => {
    assert.throws(() => lab.spawn("psn-1-other-t", ["true"]), /not part of lab/);
  });

  test("destroy kills running processes, also TERM-ignoring and escaped ones, and is idempotent", async (t) => {
    const doomed = await createLab({ name: "destroy" });
    let destroyed = false;
    t.after(() => (destroyed ? undefined : doomed.destroy()));
    const stubborn = doomed.spawn(doomed.target, [
      "node",
      "-e",
      "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);",
    ]);
    const sleeper = doomed.spawn(doomed.scanner(1), ["sleep", "60"]);
    // A detached grandchild in its own session: not tracked, found only through `ip netns pids`.
    const escapeJs = `const c = require("child_process").spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
      c.unref(); console.log(c.pid);`;
    const escaped = await doomed.execOk(doomed.target, ["node", "-e", escapeJs]);
    const escapedPid = Number(escaped.stdout.trim());
    await doomed.waitForOutput(stubborn, "ready", 5_000);

    const startedMs = performance.now();
    await doomed.destroy({ graceMs: 200 });
    destroyed = true;
    const tookMs = performance.now() - startedMs;
    assert.equal(stubborn.exitStatus?.signal, "SIGKILL");
    assert.equal(sleeper.exitStatus?.signal, "SIGTERM");
    await waitFor(() => pidGone(escapedPid), {
      timeoutMs: 10_000,
      what: `escaped sleep ${escapedPid} to die`,
    });
    for (const ns of doomed.namespaces) assert.ok(!listNamespaces().includes(ns), `${ns} still exists`);
    // Bounded (SIGKILL after the grace), not stuck: a generous bound for a busy machine.
    assert.ok(tookMs < 15_000, `destroy took ${tookMs} ms`);
    await doomed.destroy(); // idempotent
    await assert.rejects(doomed.exec(doomed.target, ["true"]), /destroyed/);
  });

  test("a process that exits without destroy() leaves no namespace", async (t) => {
    const { child, firstLine } = startChild(`import { createLab } from ${JSON.stringify(HARNESS_URL)};
      const lab = await createLab({ name: "exit" });
      lab.spawn(lab.target, ["sleep", "60"]);
      console.log(JSON.stringify(lab.namespaces));
      process.exit(0);`);
    const namespaces = JSON.parse(await firstLine) as string[];
    t.after(() => cleanupStaleLabs());
    await new Promise((resolve) => child.once("close", resolve));
    assert.equal(child.exitCode, 0);
    for (const ns of namespaces) assert.ok(!listNamespaces().includes(ns), `${ns} survived process exit`);
  });

  test("cleanupStaleLabs removes labs of a SIGKILLed test process, and only those", async (t) => {
    const { child, firstLine } = startChild(`import { createLab } from ${JSON.stringify(HARNESS_URL)};
      const lab = await createLab({ name: "crash" });
      const sleeper = lab.spawn(lab.target, ["sleep", "60"]);
      console.log(JSON.stringify({ namespaces: lab.namespaces, sleepPid: sleeper.pid }));
      setInterval(() => {}, 1000);`);
    t.after(() => cleanupStaleLabs());
    const { namespaces, sleepPid } = JSON.parse(await firstLine) as {
      namespaces: string[];
      sleepPid: number;
    };
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("close", resolve));
    for (const ns of namespaces) assert.ok(listNamespaces().includes(ns), `${ns} should outlive the crash`);
    assert.equal(pidGone(sleepPid), false, "the crashed lab's sleep should still run");

    // Parallel test files may sweep the same stale lab, so check what is gone, not who removed it.
    const removed = await cleanupStaleLabs();
    for (const ns of lab.namespaces) assert.ok(!removed.includes(ns), `live ${ns} reported as swept`);
    for (const ns of namespaces) assert.ok(!listNamespaces().includes(ns), `${ns} not swept`);
    await waitFor(() => pidGone(sleepPid), {
      timeoutMs: 10_000,
      what: `crashed lab's sleep ${sleepPid} to die`,
    });
    // Our own live lab is untouched.
    for (const ns of lab.namespaces) assert.ok(listNamespaces().includes(ns), `live ${ns} was swept`);
    await lab.execOk(lab.scanner(1), ["true"]);
  });
});
