/**
 * The kernel filter text: it compiles (tcpdump/libpcap) for the 1.2 port lists and advanced
 * mode, stays far below the kernel's 4096-instruction limit, and lets through exactly what it
 * should, checked by running libpcap's filter (tcpdump -r) over frames built here.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { candidatePorts, portBitmap, portRanges, withoutPorts } from "../../../src/port-set.js";
import { buildFilter, MAX_FILTER_ADDRESSES, portTest } from "../../../src/sensors/bpf.js";
import { testConfig } from "../../helpers/config.js";

const TCP_12 = [
  1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 5742, 6667, 12345, 12346, 20034, 27665, 31337,
  32771, 32772, 32773, 32774, 40421, 49724, 54320,
];
const UDP_12 = [
  1, 7, 9, 69, 161, 162, 513, 635, 640, 641, 700, 37444, 34555, 31335, 32770, 32771, 32772, 32773, 32774,
  31337, 54321,
];
const config = testConfig("/nonexistent", { tcpPorts: TCP_12, udpPorts: UDP_12 });
const V4 = ["192.0.2.1", "198.51.100.7"];
const V6 = ["2001:db8::1", "fe80::1"];

function hasTcpdump(): boolean {
  try {
    execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const NO_TCPDUMP = hasTcpdump() ? false : "tcpdump not installed";

/** Compiled BPF instruction count (tcpdump -d), Ethernet link type. */
function instructions(expression: string): number {
  const out = execFileSync("tcpdump", ["-d", "-y", "EN10MB", expression], { encoding: "utf8" });
  return out.trim().split("\n").length;
}

function filterOf(tcp: Uint8Array | undefined, udp: Uint8Array | undefined, v4 = V4, v6 = V6): string {
  const r = buildFilter({ tcp, udp, v4, v6, ackScans: false });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.expression;
}

describe("buildFilter compiles", { skip: NO_TCPDUMP }, () => {
  const cases: [string, string][] = [
    [
      "stealth 1.2 lists, IPv4+IPv6",
      filterOf(candidatePorts("stcp", config), candidatePorts("sudp", config)),
    ],
    [
      "advanced 1024 both, IPv4+IPv6",
      filterOf(candidatePorts("atcp", config), candidatePorts("audp", config)),
    ],
    ["stealth TCP, IPv4 only", filterOf(candidatePorts("stcp", config), undefined, V4, [])],
    ["advanced UDP, IPv6 only", filterOf(undefined, candidatePorts("audp", config), [], V6)],
    [
      "advanced 65536 with listeners taken out",
      filterOf(
        withoutPorts(
          candidatePorts("atcp", { ...config, advancedPortsTcp: 65536 }),
          portBitmap([22, 25, 80, 443, 8080, 9000]),
        ),
        candidatePorts("audp", { ...config, advancedPortsUdp: 65536 }),
      ),
    ],
  ];
  for (const [name, expression] of cases) {
    test(name, () => {
      const n = instructions(expression);
      assert.ok(n > 10 && n < 400, `${n} instructions`);
    });
  }

  test(`${MAX_FILTER_ADDRESSES} addresses per family stay below the kernel limit`, () => {
    const v4 = Array.from({ length: MAX_FILTER_ADDRESSES }, (_, i) => `198.51.${i >> 8}.${i & 0xff}`);
    const v6 = Array.from({ length: MAX_FILTER_ADDRESSES }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
    const n = instructions(filterOf(candidatePorts("stcp", config), candidatePorts("sudp", config), v4, v6));
    assert.ok(n < 4096, `${n} instructions`);
  });
});

describe("buildFilter refuses", () => {
  test("no port, no address, too many addresses", () => {
    const none = buildFilter({ tcp: portBitmap([]), udp: undefined, v4: V4, v6: [], ackScans: false });
    assert.equal(none.ok ? "" : none.reason, "no-ports");
    const noAddr = buildFilter({ tcp: portBitmap([1]), udp: undefined, v4: [], v6: [], ackScans: false });
    assert.equal(noAddr.ok ? "" : noAddr.reason, "no-addresses");
    const many = Array.from({ length: MAX_FILTER_ADDRESSES + 1 }, (_, i) => `198.51.${i >> 8}.${i & 0xff}`);
    const tooMany = buildFilter({ tcp: portBitmap([1]), udp: undefined, v4: many, v6: [], ackScans: false });
    assert.equal(tooMany.ok ? "" : tooMany.reason, "too-many-addresses");
  });

  test("only canonical addresses reach the filter text", () => {
    const r = buildFilter({
      tcp: portBitmap([1]),
      udp: undefined,
      v4: ["192.0.2.1 or tcp", "192.0.2.01", "192.0.2.9"],
      v6: ["2001:DB8:0::1", "not-an-address"],
      ackScans: false,
    });
    assert.ok(r.ok);
    assert.match(r.expression, /ip dst host 192\.0\.2\.9\b/);
    assert.match(r.expression, /ip6 dst host 2001:db8::1\b/);
    assert.doesNotMatch(r.expression, /192\.0\.2\.1\b|or tcp|not-an/);
  });
});

describe("portTest", () => {
  test("a short list stays a list", () => {
    assert.equal(portTest("p", portRanges(portBitmap([1, 2, 3, 7]))), "(p >= 1 and p <= 3) or p = 7");
  });
  test("advanced mode becomes a span minus holes", () => {
    const ports = candidatePorts("atcp", config);
    assert.equal(portTest("p", portRanges(ports)), "p <= 1023 and not (p = 113 or p = 139)");
  });
  test("the whole port space", () => {
    assert.equal(portTest("p", [{ from: 0, to: 65535 }]), "p >= 0");
  });
});

// --- semantics: run the filter over frames with libpcap (tcpdump -r) ---------------------------

const MAC_US = [2, 0, 0, 0, 0, 1];
const MAC_PEER = [2, 0, 0, 0, 0, 2];
const BROADCAST = [255, 255, 255, 255, 255, 255];

function v4bytes(a: string): number[] {
  return a.split(".").map(Number);
}
function v6bytes(a: string): number[] {
  const [head = "", tail = ""] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const v = Number.parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

function tcpHeader(srcPort: number, dstPort: number, flags: number): number[] {
  return [
    srcPort >> 8,
    srcPort & 0xff,
    dstPort >> 8,
    dstPort & 0xff,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0x50,
    flags,
    4,
    0,
    0,
    0,
    0,
    0,
  ];
}
function udpHeader(srcPort: number, dstPort: number): number[] {
  return [srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff, 0, 8, 0, 0];
}

interface V4Opts {
  readonly fragment?: number; // the 16-bit flags+offset field
  readonly dstMac?: number[];
}
function ipv4Frame(src: string, dst: string, protocol: number, l4: number[], o: V4Opts = {}): number[] {
  const total = 20 + l4.length;
  const frag = o.fragment ?? 0;
  const ip = [
    0x45,
    0,
    total >> 8,
    total & 0xff,
    0,
    1,
    frag >> 8,
    frag & 0xff,
    64,
    protocol,
    0,
    0,
    ...v4bytes(src),
    ...v4bytes(dst),
  ];
  return [...(o.dstMac ?? MAC_US), ...MAC_PEER, 0x08, 0x00, ...ip, ...l4];
}
function ipv6Frame(src: string, dst: string, next: number, payload: number[]): number[] {
  const len = payload.length;
  const ip = [0x60, 0, 0, 0, len >> 8, len & 0xff, next, 64, ...v6bytes(src), ...v6bytes(dst)];
  return [...MAC_US, ...MAC_PEER, 0x86, 0xdd, ...ip, ...payload];
}

function pcapFile(frames: readonly number[][]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // Ethernet
  const parts: Buffer[] = [header];
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1000 + i, 0); // the frame's index, read back from tcpdump's output
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, Buffer.from(f));
  });
  return Buffer.concat(parts);
}

describe("the filter passes probes to us and nothing else", { skip: NO_TCPDUMP }, () => {
  const dir = mkdtempSync(join(tmpdir(), "pscap-bpf-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const SYN = 0x02;
  const ACK = 0x10;
  const RST = 0x04;
  const FIN = 0x01;
  const PEER4 = "203.0.113.9";
  const PEER6 = "2001:db8::99";
  const frames: { name: string; frame: number[]; pass: boolean }[] = [
    {
      name: "v4 SYN to watched 143",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, SYN)),
      pass: true,
    },
    {
      name: "v4 SYN to second address",
      frame: ipv4Frame(PEER4, V4[1]!, 6, tcpHeader(4000, 1, SYN)),
      pass: true,
    },
    { name: "v4 NULL to watched 1", frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 1, 0)), pass: true },
    { name: "v4 FIN to watched 1", frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 1, FIN)), pass: true },
    {
      name: "v4 ACK to watched 143",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, ACK)),
      pass: false,
    },
    {
      name: "v4 RST to watched 143",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, RST)),
      pass: false,
    },
    {
      name: "v4 SYN to unwatched 22",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 22, SYN)),
      pass: false,
    },
    {
      name: "v4 SYN to another host",
      frame: ipv4Frame(PEER4, "192.0.2.50", 6, tcpHeader(4000, 143, SYN)),
      pass: false,
    },
    { name: "v4 UDP to watched 7", frame: ipv4Frame(PEER4, V4[0]!, 17, udpHeader(5000, 7)), pass: true },
    { name: "v4 UDP to unwatched 53", frame: ipv4Frame(PEER4, V4[0]!, 17, udpHeader(5000, 53)), pass: false },
    {
      name: "v4 UDP broadcast to watched 9",
      frame: ipv4Frame(PEER4, "255.255.255.255", 17, udpHeader(5000, 9), { dstMac: BROADCAST }),
      pass: false,
    },
    {
      name: "v4 tiny first fragment (8 bytes of TCP) to watched",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, SYN).slice(0, 8), { fragment: 0x2000 }),
      pass: true,
    },
    {
      name: "v4 later fragment within the header's first 64 bytes (nmap -f)",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, SYN), { fragment: 0x0003 }),
      pass: true,
    },
    {
      name: "v4 later fragment past 64 bytes",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, SYN), { fragment: 0x00b9 }),
      pass: false,
    },
    {
      name: "our RST from watched 143",
      frame: ipv4Frame(V4[0]!, PEER4, 6, tcpHeader(143, 4000, RST | ACK)),
      pass: true,
    },
    {
      name: "our SYN+ACK from watched 143",
      frame: ipv4Frame(V4[0]!, PEER4, 6, tcpHeader(143, 4000, SYN | ACK)),
      pass: true,
    },
    {
      name: "our ACK from watched 143",
      frame: ipv4Frame(V4[0]!, PEER4, 6, tcpHeader(143, 4000, ACK)),
      pass: false,
    },
    {
      name: "our SYN to a remote 143",
      frame: ipv4Frame(V4[0]!, PEER4, 6, tcpHeader(40000, 143, SYN)),
      pass: false,
    },
    {
      name: "our SYN from watched 143 (a connection opened from a low port: own-flows)",
      frame: ipv4Frame(V4[0]!, PEER4, 6, tcpHeader(143, 4000, SYN)),
      pass: true,
    },
    {
      name: "our UDP from watched 7 (a query: its answer is no probe)",
      frame: ipv4Frame(V4[0]!, PEER4, 17, udpHeader(7, 123)),
      pass: true,
    },
    {
      name: "our UDP from unwatched 40000",
      frame: ipv4Frame(V4[0]!, PEER4, 17, udpHeader(40000, 53)),
      pass: false,
    },
    {
      name: "v6 our UDP from watched 9",
      frame: ipv6Frame(V6[0]!, PEER6, 17, udpHeader(9, 53)),
      pass: true,
    },
    {
      name: "v6 our SYN from watched 1",
      frame: ipv6Frame(V6[0]!, PEER6, 6, tcpHeader(1, 4000, SYN)),
      pass: true,
    },
    {
      name: "v6 SYN to watched 143",
      frame: ipv6Frame(PEER6, V6[0]!, 6, tcpHeader(4000, 143, SYN)),
      pass: true,
    },
    {
      name: "v6 SYN to link-local",
      frame: ipv6Frame(PEER6, V6[1]!, 6, tcpHeader(4000, 11, SYN)),
      pass: true,
    },
    {
      name: "v6 XMAS to watched 1",
      frame: ipv6Frame(PEER6, V6[0]!, 6, tcpHeader(4000, 1, 0x29)),
      pass: true,
    },
    {
      name: "v6 ACK to watched 143",
      frame: ipv6Frame(PEER6, V6[0]!, 6, tcpHeader(4000, 143, ACK)),
      pass: false,
    },
    {
      name: "v6 SYN to unwatched 22",
      frame: ipv6Frame(PEER6, V6[0]!, 6, tcpHeader(4000, 22, SYN)),
      pass: false,
    },
    {
      name: "v6 SYN to another host",
      frame: ipv6Frame(PEER6, "2001:db8::50", 6, tcpHeader(4000, 1, SYN)),
      pass: false,
    },
    { name: "v6 UDP to watched 9", frame: ipv6Frame(PEER6, V6[0]!, 17, udpHeader(5000, 9)), pass: true },
    {
      name: "v6 hop-by-hop then TCP (left to the decoder)",
      frame: ipv6Frame(PEER6, V6[0]!, 0, [6, 0, 1, 4, 0, 0, 0, 0, ...tcpHeader(4000, 22, SYN)]),
      pass: true,
    },
    {
      name: "v6 multicast",
      frame: ipv6Frame(PEER6, "ff02::1", 17, udpHeader(5000, 9)),
      pass: false,
    },
    {
      name: "v6 our RST from watched 1",
      frame: ipv6Frame(V6[0]!, PEER6, 6, tcpHeader(1, 4000, RST | ACK)),
      pass: true,
    },
  ];
  const file = join(dir, "frames.pcap");
  writeFileSync(file, pcapFile(frames.map((f) => f.frame)));
  const expression = filterOf(candidatePorts("stcp", config), candidatePorts("sudp", config));
  const out = execFileSync("tcpdump", ["-r", file, "-n", "-tt", expression], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const passed = new Set(
    out.split("\n").flatMap((l) => (/^(\d+)\./.exec(l) ? [Number(l.split(".")[0]) - 1000] : [])),
  );
  frames.forEach((f, i) => {
    test(`${f.pass ? "passes" : "rejects"}: ${f.name}`, () => {
      assert.equal(passed.has(i), f.pass);
    });
  });

  // DETECT_ACK_SCANS: ACK-bearing packets to watched ports pass; RST still does not.
  const ackFrames = [
    {
      name: "v4 ACK to watched 143",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, ACK)),
      pass: true,
    },
    {
      name: "v4 FIN+ACK to watched 1",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 1, FIN | ACK)),
      pass: true,
    },
    {
      name: "v4 RST to watched 143",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 143, RST)),
      pass: false,
    },
    {
      name: "v6 ACK to watched 143",
      frame: ipv6Frame(PEER6, V6[0]!, 6, tcpHeader(4000, 143, ACK)),
      pass: true,
    },
    {
      name: "v4 ACK to unwatched 22",
      frame: ipv4Frame(PEER4, V4[0]!, 6, tcpHeader(4000, 22, ACK)),
      pass: false,
    },
  ];
  const ackFile = join(dir, "ack.pcap");
  writeFileSync(ackFile, pcapFile(ackFrames.map((f) => f.frame)));
  const ackFilter = buildFilter({
    tcp: candidatePorts("stcp", config),
    udp: undefined,
    v4: V4,
    v6: V6,
    ackScans: true,
  });
  assert.ok(ackFilter.ok);
  const ackOut = execFileSync("tcpdump", ["-r", ackFile, "-n", "-tt", ackFilter.expression], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const ackPassed = new Set(
    ackOut.split("\n").flatMap((l) => (/^(\d+)\./.exec(l) ? [Number(l.split(".")[0]) - 1000] : [])),
  );
  ackFrames.forEach((f, i) => {
    test(`with DETECT_ACK_SCANS ${f.pass ? "passes" : "rejects"}: ${f.name}`, () => {
      assert.equal(ackPassed.has(i), f.pass);
    });
  });
});
