/**
 * Both ends of a UDP exchange for the lab tests (a client of this host's and its server):
 *   node udp-peer.js answer PORT DELAY_MS
 *       listen on PORT (IPv4 and IPv6), print READY, answer each datagram after DELAY_MS
 *   node udp-peer.js query HOST PORT LOCAL_PORT WAIT_MS
 *       send one datagram from LOCAL_PORT; wait up to WAIT_MS for the answer (print REPLY) and
 *       close at once (an NTP client); WAIT_MS 0: close right after sending (the answer is late)
 */

import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";

const [role, ...args] = process.argv.slice(2);

if (role === "answer") {
  const port = Number(args[0]);
  const delayMs = Number(args[1] ?? "0");
  const socket = createSocket({ type: "udp6", ipv6Only: false });
  socket.on("message", (_msg, from) => {
    setTimeout(() => socket.send("answer", from.port, from.address), delayMs);
  });
  socket.bind(port, "::", () => process.stdout.write("READY\n"));
} else if (role === "query") {
  const [host = "", portText = "", localText = "", waitText = "0"] = args;
  const waitMs = Number(waitText);
  const socket = createSocket(isIPv6(host) ? "udp6" : "udp4");
  const done = (line: string) => {
    process.stdout.write(`${line}\n`);
    socket.close();
  };
  const timer = setTimeout(() => done("NO REPLY"), Math.max(1, waitMs));
  socket.on("message", () => {
    clearTimeout(timer);
    done("REPLY");
  });
  socket.bind(Number(localText), () => {
    socket.send("query", Number(portText), host, () => {
      if (waitMs === 0) {
        clearTimeout(timer);
        done("SENT");
      }
    });
  });
} else {
  process.stderr.write("usage: udp-peer.js answer PORT DELAY_MS | query HOST PORT LOCAL_PORT WAIT_MS\n");
  process.exit(2);
}
