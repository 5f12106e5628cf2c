/**
 * RESOLVE_HOST="1": reverse-resolves attackers for log lines and history (spec §2). Never on the
 * packet path — a hit is counted and decided before any lookup — and never in commands. A PTR
 * record is chosen by the attacker, so a name is used only when it is a plain host name
 * (letters, digits, dots, dashes, at most 253 characters); anything else, a timeout or an
 * error gives the address itself. Lookups are cached (bounded) and limited in number.
 */

import { reverse } from "node:dns/promises";
import { LRUCache } from "lru-cache";
import { RESOLVER_LIMITS } from "../limits.js";

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?$/;

export interface ResolverOptions {
  readonly timeoutMs: number;
  readonly maxCached: number;
  readonly ttlMs: number;
  /** Lookups under way at once; past it the address is used. */
  readonly maxPending: number;
  readonly lookup?: (address: string) => Promise<string[]>;
  readonly monoClockMs: () => number;
}

export const DEFAULT_RESOLVER: Omit<ResolverOptions, "monoClockMs"> = RESOLVER_LIMITS;

/** A name that is safe to show, or undefined. */
export function safeHostName(name: string): string | undefined {
  return HOST_NAME.test(name) ? name.replace(/\.$/, "") : undefined;
}

export class NameResolver {
  readonly #o: ResolverOptions;
  readonly #cache: LRUCache<string, { name: string; atMs: number }>;
  readonly #pending = new Map<string, Promise<string>>();

  constructor(options: ResolverOptions) {
    this.#o = options;
    this.#cache = new LRUCache({ max: Math.max(1, options.maxCached) });
  }

  /** The cached name (synchronously), or a promise of it; always settles to a name or `address`. */
  nameOf(address: string): string | Promise<string> {
    const hit = this.#cache.get(address);
    if (hit !== undefined && this.#o.monoClockMs() - hit.atMs < this.#o.ttlMs) return hit.name;
    const pending = this.#pending.get(address);
    if (pending !== undefined) return pending;
    if (this.#pending.size >= this.#o.maxPending) return address;
    const lookup = this.#lookup(address).then((name) => {
      this.#pending.delete(address);
      this.#remember(address, name);
      return name;
    });
    this.#pending.set(address, lookup);
    return lookup;
  }

  async #lookup(address: string): Promise<string> {
    const lookup = this.#o.lookup ?? reverse;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, this.#o.timeoutMs, undefined);
    });
    try {
      const names = await Promise.race([lookup(address).catch(() => undefined), timeout]);
      const first = names?.[0];
      return (first !== undefined && safeHostName(first)) || address;
    } finally {
      clearTimeout(timer);
    }
  }

  #remember(address: string, name: string): void {
    this.#cache.set(address, { name, atMs: this.#o.monoClockMs() });
  }
}
