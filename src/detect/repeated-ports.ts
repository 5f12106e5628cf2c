/**
 * Hits that repeat their source's previous port: a neighbour's syslog datagrams to 514 where
 * nothing listens, traceroute's probes to one port, a client retrying. A scan walks ports; these
 * knock on one. Counted apart (issue #14) so an operator can tell them from scans and keep such
 * a neighbour out with the ignore file; the verdict does not change (each is a probe of a closed
 * port).
 *
 * Pure. Keyed by the source address: at most `maxSources`, least recently hit out first. Once
 * full, a new source is admitted at one miss in 16 (as state/top-sources.ts does), so that a
 * flood of forged sources does not turn every hit into an eviction: a neighbour that knocks on
 * one port again and again is still admitted within a few knocks and counted from then on.
 */

import { LRUCache } from "lru-cache";

export class RepeatedPorts {
  readonly #last: LRUCache<string, number>;
  /** Hits whose source's previous hit went to the same protocol and port. */
  repeats = 0;
  /** Sources forgotten to make room (least recently hit first). */
  evicted = 0;
  #misses = 0;

  constructor(maxSources: number) {
    this.#last = new LRUCache({ max: Math.max(1, maxSources) });
  }

  /** A hit from `address` to `protocol`/`port`; true when it repeats the previous one's port. */
  note(address: string, protocol: number, port: number): boolean {
    const key = protocol * 65_536 + port;
    const last = this.#last.get(address);
    if (last === undefined && this.#last.size >= this.#last.max) {
      if ((++this.#misses & 15) !== 0) return false;
      this.evicted++;
    }
    const same = last === key;
    this.#last.set(address, key);
    if (same) this.repeats++;
    return same;
  }
}
