/**
 * `portsentry replay FILE.pcap [MODE]... [--local ADDR]... [-c FILE] [--json]`: reads the
 * config and the capture, runs replay.ts over it, prints one line (or JSON object) per event
 * and a summary. Runs nothing, blocks nothing, writes no file.
 *
 * The capture is read through a 1 MiB window (fs.readSync at an offset), not loaded whole:
 * memory stays flat whatever the size. Files above `MAX_CAPTURE_BYTES` are still refused, to
 * bound the run time (about 2 GiB of small probes is tens of millions of packets).
 *
 * Exit status: 0 replayed (also when records were damaged: the summary and a warning say so),
 * 1 the capture cannot be read (not a regular file, not a capture, or not one frame readable
 * because of damage), 2 usage or config error.
 */

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { Writable } from "node:stream";
import { loadConfigOrThrow } from "../config/load.js";
import { parseIp } from "../decode/address.js";
import { LIMITS } from "../limits.js";
import { isCaptureMode, type StealthMode } from "../port-set.js";
import type { ReplayEvent, ReplaySummary } from "../replay/events.js";
import { replayCaptureAsync } from "../replay/replay.js";
import { type ByteSource, openCapture, type ReadReport } from "../sensors/pcap-file.js";
import { StartError } from "../start-error.js";
import type { Command } from "./args.js";

export type ReplayCommand = Extract<Command, { kind: "replay" }>;

/** Larger captures are refused; cut them with `editcap -c` or `tcpdump -r in -w out -c N`. */
export const MAX_CAPTURE_BYTES = 2 * 1024 ** 3;

const WINDOW_BYTES = 1 << 20;
const OUTPUT_CHUNK_CHARS = 64 * 1024;
/** Blocked addresses named in the human summary line (JSON: `MAX_LISTED_BLOCKS`). */
const HUMAN_LISTED_BLOCKS = 20;

export interface ReplayIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export async function runReplay(
  command: ReplayCommand,
  io: ReplayIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const say = (text: string) => io.stderr.write(`portsentry: ${text}\n`);

  // 1. Config and ignore file, as the daemon reads them (exit 2 on any error).
  let loaded: Awaited<ReturnType<typeof loadConfigOrThrow>>;
  try {
    loaded = await loadConfigOrThrow(command.configPath);
  } catch (err) {
    say(err instanceof StartError ? err.message : `cannot read ${command.configPath}: ${String(err)}`);
    return 2;
  }
  const { config, ignore } = loaded;
  const modes: StealthMode[] =
    command.modes.length > 0
      ? command.modes.filter(isCaptureMode)
      : [
          ...(config.tcpPorts.length > 0 ? (["stcp"] as const) : []),
          ...(config.udpPorts.length > 0 ? (["sudp"] as const) : []),
        ];
  if (modes.length === 0) {
    say(`${config.file} lists no TCP_PORTS or UDP_PORTS: name the modes (-atcp, -audp)`);
    return 2;
  }

  // 2. The capture: refuse what is not a readable capture file (exit 1).
  const file = openFile(command.pcapFile);
  if (!file.ok) {
    say(file.error);
    return 1;
  }
  try {
    const opened = openCapture(file.source);
    if (!opened.ok) {
      say(`${command.pcapFile}: ${opened.reason}`);
      return 1;
    }
    const capture = opened.capture;
    const out = new Output(io.stdout);
    const print = command.json
      ? (e: ReplayEvent) => out.line(jsonEvent(e))
      : (e: ReplayEvent) => out.line(humanEvent(e));
    let summary: ReplaySummary;
    try {
      summary = await replayCaptureAsync(
        () => capture.frames(),
        {
          config,
          modes,
          isIgnored: (address) => {
            const ip = parseIp(address);
            return ip === undefined || ignore.matches(ip);
          },
          localAddresses: command.localAddresses.length > 0 ? command.localAddresses : undefined,
          limits: LIMITS,
        },
        print,
        () => out.backlog(),
      );
    } catch (err) {
      out.flush();
      say(`${command.pcapFile}: read error: ${(err as Error).message}`);
      return 1;
    }
    const report = capture.report;
    if (command.json) out.line(JSON.stringify(summaryObject(command.pcapFile, summary, report)));
    else for (const line of summaryLines(command.pcapFile, summary, report)) out.line(line);
    out.flush();
    await out.backlog();
    if (report.stopped !== undefined) {
      say(
        `${command.pcapFile}: WARNING: reading stopped at byte ${report.stopped.offset}: ${report.stopped.reason}; the rest of the file was not replayed`,
      );
    }
    const bad = Object.values(report.badRecords).reduce((n, v) => n + v, 0);
    if (bad > 0) {
      const reasons = Object.entries(report.badRecords)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ");
      say(`${command.pcapFile}: WARNING: ${bad} damaged records or blocks skipped (${reasons})`);
    }
    // Nothing replayed because of damage is a failure, not an empty capture.
    if (report.frames === 0 && (bad > 0 || report.stopped !== undefined)) {
      say(`${command.pcapFile}: no frame could be read: the file is damaged`);
      return 1;
    }
    if (summary.localAddresses.length === 0) {
      say(
        "WARNING: no local address: nothing in the capture answered a TCP probe; name them with --local ADDR",
      );
    }
    return 0;
  } finally {
    file.close();
  }
}

type OpenedFile =
  | { readonly ok: true; readonly source: ByteSource; close(): void }
  | { readonly ok: false; readonly error: string };

function openFile(path: string): OpenedFile {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO without a writer must not hang the open (it is refused below); a
    // regular file reads the same either way.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return { ok: false, error: `cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const close = () => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  };
  const st = fstatSync(fd);
  if (!st.isFile()) {
    close();
    return {
      ok: false,
      error: `${path} is not a regular file (a pipe, device or directory): replay reads a capture file; save it first, e.g. tcpdump -w FILE`,
    };
  }
  if (st.size > MAX_CAPTURE_BYTES) {
    close();
    return {
      ok: false,
      error: `${path} is ${st.size} bytes; replay reads at most ${MAX_CAPTURE_BYTES} (2 GiB): cut it first, e.g. editcap -c 10000000`,
    };
  }
  return { ok: true, source: new FileSource(fd, st.size), close };
}

/** The file through a window: reads inside it cost nothing, others refill it at their offset. */
class FileSource implements ByteSource {
  readonly size: number;
  readonly #fd: number;
  readonly #window = Buffer.alloc(WINDOW_BYTES);
  #start = 0;
  #length = 0;

  constructor(fd: number, size: number) {
    this.#fd = fd;
    this.size = size;
  }

  read(offset: number, length: number): Uint8Array {
    const want = Math.max(0, Math.min(length, this.size - offset));
    if (offset >= this.#start && offset + want <= this.#start + this.#length) {
      return this.#window.subarray(offset - this.#start, offset - this.#start + want);
    }
    if (want > WINDOW_BYTES) {
      const big = Buffer.alloc(want);
      return big.subarray(0, this.#fill(big, offset, want));
    }
    this.#start = offset;
    this.#length = this.#fill(this.#window, offset, Math.min(WINDOW_BYTES, this.size - offset));
    return this.#window.subarray(0, Math.min(want, this.#length));
  }

  /** Reads until `length` bytes or the end of the file (it may have shrunk meanwhile). */
  #fill(into: Buffer, offset: number, length: number): number {
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, into, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
}

/**
 * Lines gathered into chunks, so that a large replay is not one write per line. A stream
 * that falls behind (stdout into a pipe) is waited for: `backlog()` is the promise of its
 * `drain` while its buffer is full, and the replay reads no frame until then, so output never
 * piles up in memory.
 */
class Output {
  readonly #stream: Writable;
  #chunk = "";
  #drained: Promise<void> | undefined;

  constructor(stream: Writable) {
    this.#stream = stream;
  }

  line(text: string): void {
    this.#chunk += `${text}\n`;
    if (this.#chunk.length >= OUTPUT_CHUNK_CHARS) this.flush();
  }

  flush(): void {
    if (this.#chunk === "") return;
    const more = this.#stream.write(this.#chunk);
    this.#chunk = "";
    if (!more && this.#drained === undefined) {
      this.#drained = new Promise<void>((resolve) => {
        const done = () => {
          this.#stream.off("drain", done);
          this.#stream.off("close", done);
          this.#stream.off("error", done);
          this.#drained = undefined;
          resolve();
        };
        this.#stream.on("drain", done);
        // A reader that went away must not leave the replay waiting forever.
        this.#stream.on("close", done);
        this.#stream.on("error", done);
      });
    }
  }

  /** Undefined while the stream takes more; else the promise of its drain. */
  backlog(): Promise<void> | undefined {
    return this.#drained;
  }
}

/** At most `HUMAN_LISTED_BLOCKS` addresses, then how many more. */
function blockedText(s: ReplaySummary): string {
  if (s.blockedCount === 0) return "none";
  const shown = s.blocked.slice(0, HUMAN_LISTED_BLOCKS);
  const more = s.blockedCount - shown.length;
  return more > 0 ? `${shown.join(", ")} and ${more} more` : shown.join(", ");
}

/** `2026-11-25T09:35:55.123456Z`; a time outside what Date can show is printed as µs. */
export function isoMicros(tsUs: number): string {
  const ms = Math.floor(tsUs / 1000);
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `@${tsUs}us`;
  const iso = new Date(ms).toISOString();
  const micros = String(Math.floor(tsUs - ms * 1000)).padStart(3, "0");
  return `${iso.slice(0, -1)}${micros}Z`;
}

export function humanEvent(e: ReplayEvent): string {
  const line = `${isoMicros(e.tsUs)} ${e.message}`;
  return e.type === "detection" && !e.verified ? `${line} [unverified]` : line;
}

export function jsonEvent(e: ReplayEvent): string {
  const { type, tsUs, ...rest } = e;
  return JSON.stringify({ type, ts: isoMicros(tsUs), tsUs, ...rest });
}

function summaryObject(file: string, s: ReplaySummary, r: ReadReport): Record<string, unknown> {
  return {
    type: "summary",
    file,
    format: r.format,
    ...s,
    firstTs: s.firstTsUs === undefined ? null : isoMicros(s.firstTsUs),
    lastTs: s.lastTsUs === undefined ? null : isoMicros(s.lastTsUs),
    reader: {
      badRecords: r.badRecords,
      skippedBlocks: r.skippedBlocks,
      untimed: r.untimed,
      stopped: r.stopped ?? null,
    },
  };
}

function summaryLines(file: string, s: ReplaySummary, r: ReadReport): string[] {
  const span =
    s.firstTsUs === undefined || s.lastTsUs === undefined
      ? "empty"
      : `${isoMicros(s.firstTsUs)} … ${isoMicros(s.lastTsUs)}`;
  const locals =
    s.localAddresses.length === 0
      ? "none"
      : `${s.localAddresses.join(", ")} (${s.localFrom === "option" ? "--local" : "inferred from their answers to probes"})`;
  const counts = (o: Readonly<Record<string, number>>) =>
    Object.entries(o)
      .sort(([, a], [, b]) => b - a)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  const lines = [
    `replay: ${file}: ${r.format}, ${s.frames} frames, ${span}`,
    `replay: modes ${s.modes.map((m) => `-${m}`).join(" ")}; local addresses: ${locals}`,
    `replay: ${s.probes} probes (${s.answered} answered by this host), ${s.hits} hits, ${s.ignored} ignored, ${s.detections} detections (${s.unverified} unverified: no answer in the capture)`,
    `replay: ${s.wouldBlock} would block, ${s.heldBack} held back by the rate limit, ${s.expiries} block expiries; blocked at the end: ${blockedText(s)}`,
    `replay: ${s.samePortRepeats} hits repeated their source's previous port (a noisy neighbour rather than a scan)`,
    `replay: dropped: ${counts(s.drops)}`,
  ];
  const e = s.evictions;
  if (e.sources + e.blocksRefused + e.offences + e.pendingProbes + e.fragments + e.ownFlows > 0) {
    lines.push(
      `replay: bounded tables let go: ${e.sources} sources from the trigger table, ${e.blocksRefused} blocks refused (table of blocks full), ${e.offences} offence counts, ${e.pendingProbes} probes sent on unanswered, ${e.fragments} fragmented headers, ${e.ownFlows} flows of this host`,
    );
  }
  const bad = counts(r.badRecords);
  if (bad !== "none" || r.skippedBlocks > 0 || r.untimed > 0) {
    lines.push(
      `replay: file: bad records: ${bad}; blocks without packets: ${r.skippedBlocks}; packets without time: ${r.untimed}`,
    );
  }
  return lines;
}
