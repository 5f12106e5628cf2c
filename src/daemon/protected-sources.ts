/**
 * Start-up step 5, who is never acted on: the ignore file (replaced on SIGHUP) with loopback,
 * this host's addresses (never looked at); its default gateways and name servers (logged,
 * never blocked).
 */

import type { IgnoreList } from "../config/ignore.js";
import { parseIp } from "../decode/address.js";
import { LIMITS } from "../limits.js";
import type { ResourceStack } from "../resources.js";
import { HostFactsWatch } from "../sensors/host-facts-watch.js";
import { ProtectedHosts } from "../sensors/local-addresses.js";
import type { StageQueries } from "../stages.js";

export class ProtectedSources implements Pick<StageQueries, "isIgnored" | "neverBlockReason"> {
  #ignore: IgnoreList;
  readonly #hosts: ProtectedHosts;
  /** Changes of this host's addresses, routes and name servers (the kernel trap follows them too). */
  readonly hostFacts: HostFactsWatch;

  constructor(ignore: IgnoreList, monoClockMs: () => number, resources: ResourceStack) {
    this.#ignore = ignore;
    const watch = new HostFactsWatch();
    this.hostFacts = watch;
    this.#hosts = new ProtectedHosts(LIMITS.hostFactsMaxAgeMs, monoClockMs, watch);
    resources.add("the host facts' watch", () => watch.close());
  }

  /** The ignore list as the kernel trap's never-trapped prefixes. */
  get ignore(): IgnoreList {
    return this.#ignore;
  }

  /** SIGHUP: the new ignore list takes effect at once. */
  replaceIgnore(ignore: IgnoreList): void {
    this.#ignore = ignore;
  }

  readonly isIgnored = (address: string): boolean => {
    const ip = parseIp(address);
    return ip === undefined || this.#ignore.matches(ip) || this.#hosts.isOwn(address);
  };

  readonly neverBlockReason = (address: string): string | undefined => this.#hosts.neverBlockReason(address);
}
