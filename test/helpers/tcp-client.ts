/**
 * A minimal client run inside a lab namespace:
 *   node tcp-client.js tcp HOST PORT TIMEOUT_MS   connect, print what the server sends, exit 0;
 *                                                 exit 3 when the connection cannot be made in time
 *   node tcp-client.js udp HOST PORT TIMEOUT_MS   send one datagram, print a reply if one comes
 *   node tcp-client.js storm HOST PORT TIMEOUT_MS SRC...   connect once from each source address
 */

import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";

const [proto, host = "", portText = "", timeoutText = "2000", ...sources] = process.argv.slice(2);
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
} else if (proto === "storm") {
  // One connection from each source, one every ~10 ms; prints how many connected.
  let next = 0;
  let connected = 0;
  let finished = 0;
  const one = (): void => {
    const localAddress = sources[next++];
    if (localAddress === undefined) return;
    const socket = connect({ host, port, localAddress, timeout: timeoutMs });
    socket.on("connect", () => {
      connected++;
      socket.destroy();
    });
    socket.on("timeout", () => socket.destroy());
    socket.on("error", () => {});
    socket.on("close", () => {
      finished++;
      if (finished === sources.length) process.stdout.write(`CONNECTED ${connected}\n`);
      else setTimeout(one, 10);
    });
  };
  one();
} else {
  process.stderr.write("usage: tcp-client.js tcp|udp|storm HOST PORT TIMEOUT_MS [SRC...]\n");
  process.exit(2);
}
