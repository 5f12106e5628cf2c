/**
 * A minimal client run inside a lab namespace:
 *   node tcp-client.js tcp HOST PORT TIMEOUT_MS   connect, print what the server sends, exit 0;
 *                                                 exit 3 when the connection cannot be made in time
 *   node tcp-client.js udp HOST PORT TIMEOUT_MS   send one datagram, print a reply if one comes
 */

import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";

const [proto, host = "", portText = "", timeoutText = "2000"] = process.argv.slice(2);
const port = Number(portText);
const timeoutMs = Number(timeoutText);

if (proto === "tcp") {
  let data = "";
  const socket = connect({ host, port });
  const timer = setTimeout(() => {
    process.stdout.write("TIMEOUT\n");
    process.exit(3);
  }, timeoutMs);
  socket.on("connect", () => process.stdout.write("CONNECTED\n"));
  socket.on("data", (chunk) => {
    data += chunk.toString("utf8");
  });
  socket.on("error", (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    process.stdout.write(`ERROR ${err.code}\n`);
    process.exit(4);
  });
  socket.on("close", () => {
    clearTimeout(timer);
    process.stdout.write(`DATA ${JSON.stringify(data)}\n`);
    process.exit(0);
  });
} else if (proto === "udp") {
  const socket = createSocket(isIPv6(host) ? "udp6" : "udp4");
  const timer = setTimeout(() => {
    process.stdout.write("NO REPLY\n");
    socket.close();
  }, timeoutMs);
  socket.on("message", (msg) => {
    clearTimeout(timer);
    process.stdout.write(`REPLY ${JSON.stringify(msg.toString("utf8"))}\n`);
    socket.close();
  });
  socket.send("probe", port, host);
} else {
  process.stderr.write("usage: tcp-client.js tcp|udp HOST PORT TIMEOUT_MS\n");
  process.exit(2);
}
