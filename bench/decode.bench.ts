/**
 * Decoder cost per packet: the hot path of stealth/advanced modes under a spoofed SYN flood.
 *
 *   npx tsc -p . && node dist/bench/decode.bench.js [iterations]
 *
 * Frames are Buffers (what libpcap bindings hand over), 256 distinct ones per case, so the
 * loop does not re-read one cached frame.
 */
import { decodeFrame, LinkType, PacketFacts } from "../src/decode/packet.js";
import { classifyTcp, isProbe } from "../src/detect/classify.js";

const iterations = Number(process.argv[2] ?? 5_000_000);
const FRAMES = 256;

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

/** nmap -sS style SYN: Ethernet, IPv4 without options, TCP with a 4-byte MSS option. */
function synV4(i: number): Buffer {
  return Buffer.concat([
    hex("020000000001 020000000002 0800"),
    hex(
      `4500 002c ${(i * 7).toString(16).padStart(4, "0")} 0000 2b06 0000 cb00 71${(i & 0xff).toString(16).padStart(2, "0")} c6336414`,
    ),
    hex("d2f1 008f 11223344 00000000 6002 0400 0000 0000 020405b4"),
  ]);
}

/** SYN over IPv6 with one destination-options extension header (8 bytes). */
function synV6Ext(i: number): Buffer {
  return Buffer.concat([
    hex("020000000001 020000000002 86dd"),
    hex(
      `6000 0000 0020 3c 40 20010db8000000000000000000${(i & 0xff).toString(16).padStart(2, "0")}0010 20010db8000000000000000000000020`,
    ),
    hex("06 00 0104 00000000"),
    hex("d2f1 008f 11223344 00000000 6002 0400 0000 0000 020405b4"),
  ]);
}

/** Random bytes of random length, deterministic. */
function garbage(i: number): Buffer {
  let seed = (i + 1) * 0x9e3779b1;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const b = Buffer.alloc(20 + (next() % 100));
  for (let j = 0; j < b.length; j++) b[j] = next() & 0xff;
  return b;
}

interface Case {
  readonly name: string;
  readonly frames: readonly Buffer[];
  readonly withClassify: boolean;
}

const cases: readonly Case[] = [
  {
    name: "SYN, Ethernet/IPv4",
    frames: Array.from({ length: FRAMES }, (_, i) => synV4(i)),
    withClassify: false,
  },
  {
    name: "SYN, Ethernet/IPv6 + dest-opts header",
    frames: Array.from({ length: FRAMES }, (_, i) => synV6Ext(i)),
    withClassify: false,
  },
  {
    name: "garbage (random bytes)",
    frames: Array.from({ length: FRAMES }, (_, i) => garbage(i)),
    withClassify: false,
  },
  {
    name: "SYN, IPv4: decode + isProbe + classifyTcp",
    frames: Array.from({ length: FRAMES }, (_, i) => synV4(i)),
    withClassify: true,
  },
];

const facts = new PacketFacts();

/** Returns a value derived from every decode so the loop cannot be optimised away. */
function run(c: Case, n: number): number {
  let sink = 0;
  const frames = c.frames;
  for (let i = 0; i < n; i++) {
    const status = decodeFrame(frames[i & (FRAMES - 1)]!, LinkType.ETHERNET, facts);
    if (status === "ok") {
      sink += facts.dstPort + facts.srcV4;
      if (c.withClassify && isProbe(facts.tcpFlags)) sink += classifyTcp(facts.tcpFlags).name.length;
    } else {
      sink += status.length;
    }
  }
  return sink;
}

for (const c of cases) {
  const status = decodeFrame(c.frames[0]!, LinkType.ETHERNET, facts);
  if (c.name.startsWith("SYN") && status !== "ok") throw new Error(`bench frame for ${c.name}: ${status}`);
}

console.log(`decoder benchmark: ${iterations} packets per case, node ${process.version}`);
let total = 0;
for (const c of cases) {
  total += run(c, Math.min(iterations, 500_000)); // warm-up: let the JIT settle
  const started = process.hrtime.bigint();
  total += run(c, iterations);
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const nsPerPacket = elapsedNs / iterations;
  const packetsPerSecond = Math.round(1e9 / nsPerPacket);
  console.log(
    `${c.name.padEnd(44)} ${nsPerPacket.toFixed(1).padStart(7)} ns/packet ${packetsPerSecond.toLocaleString("en-US").padStart(13)} packets/s`,
  );
}
console.log(`(checksum ${total})`);
