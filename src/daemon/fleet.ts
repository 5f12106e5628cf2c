/**
 * Start-up step 10c, FLEET_URL: this host joins the fleet. Local blocks (trap hit, kernel trap,
 * `portsentry block`) go out through the outbox; the fleet's blocks come in and go through this
 * host's own policy (BlockKeeper.applyFleet) before any responder runs; admitted trap hits feed
 * the fleet-wide trigger. Absent FLEET_URL: nothing here runs.
 */

import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import type { ControlResult, FleetStatus } from "../control/responses.js";
import { canonicalIp, parseIp } from "../decode/address.js";
import { type FleetEvent, memberName } from "../fleet/event.js";
// ioredis is loaded only by a member (FLEET_URL): a daemon without a fleet never pays for it.
import type { FleetLink } from "../fleet/link.js";
import { FLEET_LIMITS } from "../limits.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { ResourceStack } from "../resources.js";
import { StartError } from "../start-error.js";
import { FleetStore } from "../state/fleet-store.js";
import type { BlockRecord } from "../vocabulary.js";
import type { BlockKeeper } from "./blocking.js";

export class FleetMember {
  readonly member: string;
  readonly link: FleetLink;
  readonly #store: FleetStore;
  readonly #config: Config;
  readonly #keeper: BlockKeeper;
  readonly #log: Log;
  readonly #wallClockMs: () => number;
  /** The address being applied from the fleet: its claim is not published back. */
  #applying: string | undefined;
  refused = 0;

  private constructor(
    config: Config,
    keeper: BlockKeeper,
    log: Log,
    store: FleetStore,
    Link: typeof FleetLink,
    password: string | undefined,
    tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined,
    wallClockMs: () => number,
  ) {
    this.#config = config;
    this.#keeper = keeper;
    this.#log = log;
    this.#store = store;
    this.#wallClockMs = wallClockMs;
    this.member = config.fleetMember ?? memberName(hostname());
    const url = config.fleetUrl;
    if (url === undefined) throw new Error("bug: a fleet member without FLEET_URL");
    this.link = new Link({
      url,
      user: config.fleetUser,
      password,
      tls,
      name: config.fleetName,
      member: this.member,
      share: config.fleetShare,
      trigger: config.fleetScanTrigger,
      windowMs: config.fleetTriggerWindowSec * 1000,
      banMs: config.blockTimeoutSec * 1000,
      store,
      wallClockMs,
      warn: (line) => log.limited("fleet", msg.fleetProblem(line.replace(/^fleet: /, ""))),
      apply: (e) => this.#apply(e),
    });
  }

  static async open(
    config: Config,
    keeper: BlockKeeper,
    log: Log,
    resources: ResourceStack,
    wallClockMs: () => number,
  ): Promise<FleetMember | undefined> {
    if (config.fleetUrl === undefined) return undefined;
    const { FleetLink: Link, isAuthError } = await import("../fleet/link.js");
    const password = await readPassword(config.fleetPasswordFile);
    const tls = config.fleetUrl.tls
      ? {
          ...(config.fleetTlsCa && { ca: await readSecretFile(config.fleetTlsCa, "FLEET_TLS_CA") }),
          ...(config.fleetTlsCert && { cert: await readSecretFile(config.fleetTlsCert, "FLEET_TLS_CERT") }),
          ...(config.fleetTlsKey && { key: await readSecretFile(config.fleetTlsKey, "FLEET_TLS_KEY") }),
        }
      : undefined;
    const store = new FleetStore(join(config.stateDir, "fleet.db"), FLEET_LIMITS.maxOutbox);
    resources.add("the fleet's state", () => store.close());
    const m = new FleetMember(config, keeper, log, store, Link, password, tls, wallClockMs);
    try {
      await m.link.start();
    } catch (err) {
      await m.link.stop();
      const why = isAuthError(err) ? "the password or the ACL user was refused" : "could not connect";
      throw new StartError(
        `fleet: ${why} (${String((err as Error).message).slice(0, 120)}); check FLEET_USER and FLEET_PASSWORD_FILE`,
        1,
      );
    }
    resources.add("the fleet link", () => m.link.stop());
    keeper.registry.onClaim = (r) => m.#localBlock(r);
    keeper.onAdmittedHit = (hit) => m.link.report(hit.address, hit.mode, hit.port);
    log.notice(msg.fleetJoined(config.fleetName, m.member));
    return m;
  }

  /** The member that blocked `address` first, when the block came from the fleet. */
  originOf(address: string): string | undefined {
    return this.#keeper.registry.has(address) ? this.#store.originOf(address) : undefined;
  }

  /** SIGHUP: the password file again (rotation); both connections reconnect with it. */
  async reload(): Promise<void> {
    try {
      this.link.reauthenticate(await readPassword(this.#config.fleetPasswordFile));
    } catch (err) {
      this.#log.error(msg.fleetProblem((err as Error).message));
    }
  }

  /** `unblock --fleet IP`: lifted here, and an unblock event for every member. */
  readonly unblockEverywhere = async (text: string): Promise<ControlResult> => {
    const ip = parseIp(text);
    const address = ip && canonicalIp(text);
    if (ip === undefined || address === undefined) {
      return { ok: false, code: "failed", message: `${text} is not an IP address` };
    }
    const local = await this.#keeper.unblock(address);
    const now = this.#wallClockMs();
    this.link.publishUnblock({
      kind: "unblock",
      origin: this.member,
      address,
      mode: "tcp",
      port: 0,
      classification: "unblock --fleet",
      sinceMs: now,
      expiresAtMs: 0,
    });
    this.#store.forgetOrigin(address);
    return {
      ok: true,
      changed: true,
      message: `${local.ok ? local.message : "not blocked"} here; unblocked fleet-wide`,
    };
  };

  status(): FleetStatus {
    const s = this.link.stats;
    const since = this.link.lastEventSinceMs;
    return {
      name: this.#config.fleetName,
      member: this.member,
      connected: s.connected,
      lastError: s.lastError ?? "",
      lagMs: since === 0 ? 0 : Math.max(0, this.#wallClockMs() - since),
      eventsIn: s.eventsIn,
      eventsOut: s.eventsOut,
      malformed: s.malformed,
      refused: this.refused,
      outbox: this.link.outboxSize,
      membersSeen: this.link.membersSeen.size,
    };
  }

  #localBlock(r: BlockRecord): void {
    if (this.#applying === r.address) return;
    this.#store.forgetOrigin(r.address);
    this.link.publish({
      kind: "block",
      origin: this.member,
      address: r.address,
      mode: r.mode,
      port: r.port,
      classification: `blocked by ${this.member}`,
      sinceMs: r.sinceMs,
      expiresAtMs: r.expiresAtMs,
    });
  }

  async #apply(e: FleetEvent): Promise<void> {
    if (e.kind === "unblock") {
      const r = this.#keeper.registry.get(e.address);
      if (r === undefined) return;
      await this.#keeper.lift(r, "unblocked");
      this.#store.forgetOrigin(e.address);
      this.#log.notice(msg.fleetUnblocked(e.address, e.origin), { ip: e.address, origin: e.origin });
      return;
    }
    const family = parseIp(e.address)?.family;
    if (family === undefined) return;
    // The fleet's own Redis server: blocking it would cut this member off the fleet.
    if (e.address === canonicalIp(this.#config.fleetUrl?.host ?? "")) {
      this.refused++;
      this.#log.limited(
        `fleet-refused:${e.address}`,
        msg.fleetRefused(e.address, e.origin, "the fleet's Redis server"),
      );
      return;
    }
    const record: BlockRecord = {
      address: e.address,
      family,
      mode: e.mode,
      port: e.port,
      sinceMs: e.sinceMs,
      expiresAtMs: e.expiresAtMs,
      level: 1,
    };
    this.#applying = e.address;
    let result: ControlResult;
    try {
      // The claim inside is synchronous: the flag covers exactly this block's claim.
      const pending = this.#keeper.applyFleet(record, e.classification);
      this.#applying = undefined;
      result = await pending;
    } finally {
      this.#applying = undefined;
    }
    if (result.ok && result.changed) {
      this.#store.setOrigin(e.address, e.origin);
      this.#log.notice(msg.fleetBlocked(e.address, e.origin, e.classification), {
        ip: e.address,
        origin: e.origin,
      });
    } else if (!result.ok) {
      this.refused++;
      this.#log.limited(`fleet-refused:${e.address}`, msg.fleetRefused(e.address, e.origin, result.message), {
        ip: e.address,
        origin: e.origin,
      });
    }
  }
}

async function readPassword(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  const text = (await readSecretFile(path, "FLEET_PASSWORD_FILE")).toString("utf8");
  return text.split(/\r?\n/)[0] ?? "";
}

async function readSecretFile(path: string, key: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new StartError(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, 1);
  }
}
