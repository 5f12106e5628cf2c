/**
 * The decoder against frames a real kernel produced: tcpdump captures our own UDP datagrams
 * and TCP handshakes on loopback (127.0.0.1 and ::1), as Ethernet (lo), Linux cooked v1 and
 * v2 ("any"), and the test reads the pcap file itself. Root only; loopback only; bounded.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeFrame, formatSource, LinkType, PacketFacts } from "../../src/decode/packet.js";

interface Pcap {
  readonly linkType: number;
  readonly frames: readonly Uint8Array[];
}

/** Reads a classic pcap file; a record still being written at the end is left out. */
function readPcap(bytes: Uint8Array): Pcap | undefined {
  if (bytes.length < 24) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  let little: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) little = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) little = false;
  else return undefined;
  const linkType = view.getUint32(20, little) & 0xffff;
  const frames: Uint8Array[] = [];
  for (let at = 24; at + 16 <= bytes.length; ) {
    const capturedLength = view.getUint32(at + 8, little);
    if (at + 16 + capturedLength > bytes.length) break;
    frames.push(bytes.subarray(at + 16, at + 16 + capturedLength));
    at += 16 + capturedLength;
  }
  return { linkType, frames };
}

async function until(what: string, deadlineMs: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function listenTcp(host: string): Promise<Server> {
  const server = createServer((s) => s.destroy());
  server.listen(0, host);
  await once(server, "listening");
  return server;
}

async function bindUdp(type: "udp4" | "udp6", host: string): Promise<UdpSocket> {
  const s = createSocket(type);
  s.bind(0, host);
  await once(s, "listening");
  return s;
}

function portOf(s: Server | UdpSocket): number {
  const a = s.address();
  assert.ok(a !== null && typeof a === "object");
  return a.port;
}

const CAPTURES = [
  { iface: "lo", dlt: undefined, linkType: LinkType.ETHERNET },
  { iface: "any", dlt: "LINUX_SLL", linkType: LinkType.LINUX_SLL },
  { iface: "any", dlt: "LINUX_SLL2", linkType: LinkType.LINUX_SLL2 },
] as const;

const isRoot = process.getuid?.() === 0;

for (const capture of CAPTURES) {
  test(`real loopback frames decode (${capture.iface}${capture.dlt ? `, ${capture.dlt}` : ""})`, {
    skip: isRoot ? false : "needs root to run tcpdump",
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "psdec-"));
    const file = join(dir, "capture.pcap");
    const servers: Server[] = [];
    const udps: UdpSocket[] = [];
    const clients: Socket[] = [];
    let tcpdump: ChildProcess | undefined;
    t.after(() => {
      tcpdump?.kill("SIGKILL");
      for (const s of servers) s.close();
      for (const s of udps) s.close();
      for (const c of clients) c.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    const tcp4 = await listenTcp("127.0.0.1");
    const tcp6 = await listenTcp("::1");
    const udp4 = await bindUdp("udp4", "127.0.0.1");
    const udp6 = await bindUdp("udp6", "::1");
    const sender4 = await bindUdp("udp4", "127.0.0.1");
    const sender6 = await bindUdp("udp6", "::1");
    servers.push(tcp4, tcp6);
    udps.push(udp4, udp6, sender4, sender6);

    // Only our own ports, so parallel tests' loopback traffic stays out of the file.
    const filter = `tcp port ${portOf(tcp4)} or tcp port ${portOf(tcp6)} or udp port ${portOf(udp4)} or udp port ${portOf(udp6)}`;
    const args = ["-i", capture.iface, "-n", "-U", "-c", "50", "-w", file];
    if (capture.dlt) args.push("-y", capture.dlt);
    let stderr = "";
    tcpdump = spawn("tcpdump", [...args, filter], { stdio: ["ignore", "ignore", "pipe"], timeout: 15_000 });
    tcpdump.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const spawnError = once(tcpdump, "error").then(([e]) => e as Error);
    await Promise.race([
      until("tcpdump to listen", 5000, () => stderr.includes("listening on")),
      spawnError.then((e) => assert.fail(`tcpdump: ${e.message}`)),
    ]);

    sender4.send("psdec", portOf(udp4), "127.0.0.1");
    sender6.send("psdec", portOf(udp6), "::1");
    for (const [server, host] of [
      [tcp4, "127.0.0.1"],
      [tcp6, "::1"],
    ] as const) {
      const c = new Socket();
      clients.push(c);
      c.connect(portOf(server), host);
      await once(c, "connect");
    }

    // What each sent packet must decode to: [family, protocol, source, source port, dest port].
    const wanted = [
      [4, 17, "127.0.0.1", portOf(sender4), portOf(udp4)],
      [6, 17, "::1", portOf(sender6), portOf(udp6)],
      [4, 6, "127.0.0.1", clients[0]!.localPort!, portOf(tcp4)],
      [6, 6, "::1", clients[1]!.localPort!, portOf(tcp6)],
    ] as const;
    const facts = new PacketFacts();
    let found = new Set<number>();
    let pcap: Pcap | undefined;
    await until("the four probes in the capture", 5000, () => {
      pcap = readPcap(readFileSync(file));
      found = new Set();
      for (const frame of pcap?.frames ?? []) {
        const status = decodeFrame(frame, pcap!.linkType, facts);
        assert.equal(status, "ok", "every captured frame decodes");
        wanted.forEach(([family, protocol, src, srcPort, dstPort], i) => {
          const isSyn = protocol === 17 || (facts.tcpFlags & 0x12) === 0x02;
          if (
            facts.family === family &&
            facts.protocol === protocol &&
            formatSource(facts) === src &&
            facts.srcPort === srcPort &&
            facts.dstPort === dstPort &&
            isSyn &&
            (protocol === 6 || facts.payloadLength === 5)
          ) {
            found.add(i);
          }
        });
      }
      return found.size === wanted.length;
    });
    assert.equal(pcap?.linkType, capture.linkType);
  });
}
