/**
 * Tells when this host's addresses, routes or name servers may have changed, so that the facts
 * are re-read then and not on a timer (#17: nothing to do, nothing done). Addresses and routes
 * come from rtnetlink through `ip -o monitor link address route` (one child process, ~1 MiB outside
 * the daemon, rather than netlink parsing in the addon); name servers from resolv.conf's
 * directory through fs.watch (resolv.conf is often replaced, not written in place).
 * Without `ip` the owners fall back to re-reading on use or on their timer.
 */

import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { CHANGE_FEEDS } from "../limits.js";
import { type ChangeWatch, CommandFeed } from "./command-feed.js";

export class HostFactsWatch implements ChangeWatch {
  readonly #feed: CommandFeed;
  #dirWatch: FSWatcher | undefined;

  constructor(
    resolvConf = "/etc/resolv.conf",
    ipArgv: readonly string[] = ["ip", "-o", "monitor", "link", "address", "route"],
  ) {
    this.#feed = new CommandFeed(ipArgv, CHANGE_FEEDS.coalesceMs);
    try {
      const name = basename(resolvConf);
      const dirWatch = watch(dirname(resolvConf), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.#feed.changed();
      });
      dirWatch.on("error", () => dirWatch.close());
      this.#dirWatch = dirWatch;
    } catch {
      this.#dirWatch = undefined;
    }
  }

  /** True while address and route changes are followed: facts read since the last change are current. */
  get live(): boolean {
    return this.#feed.live;
  }

  onChange(listener: () => void): void {
    this.#feed.onChange(listener);
  }

  close(): void {
    this.#dirWatch?.close();
    this.#feed.close();
  }
}
