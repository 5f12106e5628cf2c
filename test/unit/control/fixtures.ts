/** Shared pieces of the control tests: a fake handler, temp dirs, a raw line client, polling. */

import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlHandler } from "../../../src/control/dispatch.js";
import type { BlockedEntry, ControlResult, StatusReport } from "../../../src/control/responses.js";

/** A fresh 0700 directory under /tmp (prefix psctl-); `cleanup` removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "psctl-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const STATUS: StatusReport = {
  version: "9.9.9",
  pid: 4242,
  startedAt: "2024-05-01T12:00:00.000Z",
  uptimeSec: 7384,
  configFile: "/etc/portsentry/portsentry.conf",
  modes: ["tcp", "udp"],
  sensors: [
    { mode: "tcp", armed: true, portCount: 7, ports: "1,11,143,32771-32774" },
    { mode: "udp", armed: false, portCount: 2, ports: "1,7" },
  ],
  blockedHosts: 2,
  counters: {
    hits: 57,
    ignored: 3,
    detections: 2,
    blocks: 2,
    heldBack: 0,
    decodeDrops: 1,
    logSuppressed: 12,
  },
};

/** The address a fake handler refuses, as the daemon refuses its own addresses. */
export const PROTECTED = "192.0.2.66";

export interface FakeHandler extends ControlHandler {
  readonly calls: string[];
  readonly blocks: Map<string, BlockedEntry>;
}

/** A ControlHandler over a map, recording every call. */
export function fakeHandler(overrides: Partial<ControlHandler> = {}): FakeHandler {
  const calls: string[] = [];
  const blocks = new Map<string, BlockedEntry>([
    [
      "192.0.2.7",
      { address: "192.0.2.7", mode: "tcp", port: 143, sinceMs: 1_714_565_402_000, expiresAtMs: 0 },
    ],
    [
      "2001:db8::9",
      {
        address: "2001:db8::9",
        mode: "atcp",
        port: 22,
        sinceMs: 1_714_565_500_000,
        expiresAtMs: 1_714_651_900_000,
      },
    ],
  ]);
  const handler: FakeHandler = {
    calls,
    blocks,
    status: () => {
      calls.push("status");
      return { ...STATUS, blockedHosts: blocks.size };
    },
    blocked: () => {
      calls.push("blocked");
      return [...blocks.values()];
    },
    unblock: async (address): Promise<ControlResult> => {
      calls.push(`unblock ${address}`);
      return blocks.delete(address)
        ? { ok: true, changed: true, message: "unblocked" }
        : { ok: true, changed: false, message: "not blocked" };
    },
    unblockFleet: async (address): Promise<ControlResult> => {
      calls.push(`unblock-fleet ${address}`);
      return blocks.delete(address)
        ? { ok: true, changed: true, message: "unblocked here; unblocked fleet-wide" }
        : { ok: true, changed: true, message: "not blocked here; unblocked fleet-wide" };
    },
    block: async (address): Promise<ControlResult> => {
      calls.push(`block ${address}`);
      if (address === PROTECTED)
        return { ok: false, code: "protected", message: "one of this host's addresses" };
      if (blocks.has(address)) return { ok: true, changed: false, message: "already blocked" };
      blocks.set(address, { address, mode: "tcp", port: 0, sinceMs: Date.now(), expiresAtMs: 0 });
      return { ok: true, changed: true, message: "blocked" };
    },
    ...overrides,
  };
  return handler;
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client that speaks raw bytes and collects the lines it receives. */
export class RawClient {
  readonly socket: Socket;
  readonly lines: string[] = [];
  closed = false;
  errorCode: string | undefined;
  #partial = "";

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      const parts = (this.#partial + text).split("\n");
      this.#partial = parts.pop() ?? "";
      this.lines.push(...parts);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.errorCode = err.code;
    });
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const client = new RawClient(socket);
      socket.once("connect", () => resolve(client));
      socket.once("error", reject);
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** The next line as parsed JSON. */
  async next(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const want = this.#taken + 1;
    await waitFor("a response line", () => this.lines.length >= want || this.closed, timeoutMs);
    if (this.lines.length < want) throw new Error("connection closed without a response");
    this.#taken = want;
    return JSON.parse(this.lines[want - 1]!) as Record<string, unknown>;
  }
  #taken = 0;

  async request(obj: unknown): Promise<Record<string, unknown>> {
    this.send(`${JSON.stringify(obj)}\n`);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}

export function errorCode(response: Record<string, unknown>): string | undefined {
  const e = response.error as { code?: string } | undefined;
  return e?.code;
}
