/**
 * Hits that repeat their source's previous port: a neighbour's syslog datagrams to 514 where
 * nothing listens, traceroute's probes to one port, a client retrying. A scan walks ports; these
 * knock on one. Counted apart (issue #14) so an operator can tell them from scans and keep such
 * a neighbour out with the ignore file; the verdict does not change (each is a probe of a closed
 * port).
 *
 * Pure and allocation-free: a fixed direct-mapped table of `maxSources` slots (rounded up to a
 * power of two) keyed by a 32-bit hash of the source, holding its last protocol and port. A new
 * source takes its slot over (counted as evicted), so a forged flood costs a hash and two array
 * writes per hit, never a table operation that grows with it; a neighbour whose slot a flood
 * took is counted again from its next knock. A statistic, not a verdict: two sources with one
 * hash (1 in 2^32) would count as one.
 */

export class RepeatedPorts {
  readonly #mask: number;
  /** The source's hash per slot; 0: empty (hashes are made odd, never 0). */
  readonly #source: Uint32Array;
  /** protocol << 16 | port of the source's last hit. */
  readonly #last: Uint32Array;
  /** Hits whose source's previous hit went to the same protocol and port. */
  repeats = 0;
  /** Sources whose slot a new source took. */
  evicted = 0;

  constructor(maxSources: number) {
    let n = 1;
    while (n < Math.max(1, maxSources)) n *= 2;
    this.#mask = n - 1;
    this.#source = new Uint32Array(n);
    this.#last = new Uint32Array(n);
  }

  /** A hit from `address` to `protocol`/`port`; true when it repeats the previous one's port. */
  note(address: string, protocol: number, port: number): boolean {
    const h = hash(address);
    const slot = h & this.#mask;
    const key = ((protocol & 0xff) << 16) | (port & 0xffff);
    if (this.#source[slot] !== h) {
      if (this.#source[slot] !== 0) this.evicted++;
      this.#source[slot] = h;
      this.#last[slot] = key;
      return false;
    }
    const same = this.#last[slot] === key;
    this.#last[slot] = key;
    if (same) this.repeats++;
    return same;
  }
}

/** FNV-1a over the address's characters, made odd so that no hash is 0. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h | 1) >>> 0;
}
