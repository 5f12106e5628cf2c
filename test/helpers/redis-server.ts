/**
 * A real redis-server (Debian's) for a test: its own port, directory and config, optionally an
 * ACL user with a password; stopped and its directory removed by `stop()`.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export const redisMissing: string | false = spawnSync("redis-server", ["--version"]).error
  ? "needs redis-server (setup.sh)"
  : false;

export interface TestRedis {
  readonly port: number;
  readonly dir: string;
  /** A client as the admin (default user), for checks and forged entries. */
  admin(): Redis;
  stop(): Promise<void>;
  /** Stops the server, keeping its directory (for a restart on the same port). */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}

export interface RedisAcl {
  readonly user: string;
  readonly password: string;
  readonly rules: string;
  readonly adminPassword: string;
}

/** redis.conf in `dir`: no RDB snapshots, an append-only file (a restart keeps the data). */
export async function writeRedisConf(
  dir: string,
  port: number,
  binds: readonly string[],
  acl: RedisAcl | undefined,
): Promise<string> {
  const lines = [
    `port ${port}`,
    `bind ${binds.join(" ")}`,
    `dir ${dir}`,
    "save ''",
    "appendonly yes",
    "appendfsync no",
    "protected-mode no",
  ];
  if (acl !== undefined) {
    lines.push(`user default on >${acl.adminPassword} ~* &* +@all`);
    lines.push(`user ${acl.user} on >${acl.password} ${acl.rules}`);
  }
  const conf = join(dir, "redis.conf");
  await writeFile(conf, `${lines.join("\n")}\n`, { mode: 0o600 });
  return conf;
}

/** The ACL rules a member needs (docs/fleet.md): its fleet's keys, the commands it uses. */
export function memberAclRules(fleetName: string): string {
  return (
    `resetkeys ~{${fleetName}}:* resetchannels -@all +ping +hello +auth +client|setname +select +info +xread +xrange +xrevrange +hscan +evalsha +eval ` +
    "+xadd +hset +hexists +hdel +zadd +zrem +zrangebyscore +zremrangebyscore +zcard +zremrangebyrank +pexpire +del"
  );
}

export async function startRedis(
  acl?: RedisAcl,
  bind = "127.0.0.1",
  spawnIn: (cmd: string, args: string[]) => ChildProcess = (c, a) => spawn(c, a, { stdio: "ignore" }),
): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), "ps-redis-"));
  const port = await freePort();
  const conf = await writeRedisConf(dir, port, [bind], acl);
  let child: ChildProcess | undefined;
  const clients: Redis[] = [];
  const up = async () => {
    child = spawnIn("redis-server", [conf]);
    const probe = new Redis({
      port,
      host: bind,
      password: acl?.adminPassword,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    probe.on("error", () => {});
    try {
      for (let i = 0; i < 200; i++) {
        try {
          await probe.connect();
          await probe.ping();
          return;
        } catch {
          probe.disconnect();
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      throw new Error("redis-server did not answer within 5 s");
    } finally {
      probe.disconnect();
    }
  };
  const down = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  };
  await up();
  return {
    port,
    dir,
    admin: () => {
      const c = new Redis({ port, host: bind, password: acl?.adminPassword });
      c.on("error", () => {});
      clients.push(c);
      return c;
    },
    kill: down,
    restart: up,
    stop: async () => {
      for (const c of clients) c.disconnect();
      await down();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
