/**
 * Raw Ethernet frames for the lab tests that forge sources: a TCP SYN with every checksum right,
 * written onto a link with AF_PACKET (python3), so that the target's stack and its nftables
 * hooks see it as they would see a forger's. Only inside the lab's namespaces.
 */

import assert from "node:assert/strict";
import { parseIp } from "../../src/decode/address.js";
import type { Lab } from "../netns/netns.js";
import { SYN } from "./pcap-builder.js";

/** Writes each hex frame given after the interface name onto that interface. */
export const SEND_RAW_PY = [
  "import socket, sys",
  "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
  "s.bind((sys.argv[1], 0))",
  "for h in sys.argv[2:]: s.send(bytes.fromhex(h))",
].join("\n");

/** The same, one frame every `sys.argv[2]` seconds (a forged stream at a bounded rate). */
export const SEND_RAW_PACED_PY = [
  "import socket, sys, time",
  "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
  "s.bind((sys.argv[1], 0))",
  "for h in sys.argv[3:]:",
  "    s.send(bytes.fromhex(h))",
  "    time.sleep(float(sys.argv[2]))",
].join("\n");

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** The MAC address of `iface` in `where`. */
export async function linkMac(lab: Lab, where: { readonly ns: string }, iface: string): Promise<string> {
  const r = await lab.execOk(where, ["ip", "-j", "link", "show", iface]);
  const [link] = JSON.parse(r.stdout) as { address: string }[];
  assert.ok(link?.address, r.stdout);
  return link.address;
}

function sum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** An Ethernet frame carrying a TCP SYN from `src` to `dst`:port, every checksum right. */
export function synFrame(dstMac: string, srcMac: string, src: string, dst: string, port: number): Uint8Array {
  const s = parseIp(src);
  const d = parseIp(dst);
  assert.ok(s && d, `${src} ${dst}`);
  const tcp = new Uint8Array(20);
  const tv = new DataView(tcp.buffer);
  tv.setUint16(0, 40_000);
  tv.setUint16(2, port);
  tv.setUint32(4, 0x01020304);
  tcp[12] = 5 << 4;
  tcp[13] = SYN;
  tv.setUint16(14, 1024);
  const v6 = d.family === 6;
  // Pseudo-header: addresses, protocol, TCP length.
  const pseudo = new Uint8Array(v6 ? 40 : 12);
  pseudo.set(s.bytes, 0);
  pseudo.set(d.bytes, s.bytes.length);
  const pv = new DataView(pseudo.buffer);
  if (v6) {
    pv.setUint32(32, tcp.length);
    pseudo[39] = 6;
  } else {
    pseudo[9] = 6;
    pv.setUint16(10, tcp.length);
  }
  tv.setUint16(16, ~sum16(tcp, sum16(pseudo)) & 0xffff);
  let ip: Uint8Array;
  if (v6) {
    ip = new Uint8Array(40 + tcp.length);
    ip[0] = 0x60;
    new DataView(ip.buffer).setUint16(4, tcp.length);
    ip[6] = 6;
    ip[7] = 64;
    ip.set(s.bytes, 8);
    ip.set(d.bytes, 24);
    ip.set(tcp, 40);
  } else {
    ip = new Uint8Array(20 + tcp.length);
    const iv = new DataView(ip.buffer);
    ip[0] = 0x45;
    iv.setUint16(2, ip.length);
    ip[8] = 64;
    ip[9] = 6;
    ip.set(s.bytes, 12);
    ip.set(d.bytes, 16);
    iv.setUint16(10, ~sum16(ip.subarray(0, 20)) & 0xffff);
    ip.set(tcp, 20);
  }
  const frame = new Uint8Array(14 + ip.length);
  const mac = (text: string) => text.split(":").map((h) => Number.parseInt(h, 16));
  frame.set(mac(dstMac), 0);
  frame.set(mac(srcMac), 6);
  new DataView(frame.buffer).setUint16(12, v6 ? 0x86dd : 0x0800);
  frame.set(ip, 14);
  return frame;
}
