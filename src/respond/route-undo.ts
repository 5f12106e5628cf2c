/**
 * The command that lifts a KILL_ROUTE block: KILL_ROUTE_UNDO when set, else derived from the
 * usual KILL_ROUTE forms. 1.2 never lifted a block; expiry and `unblock` need to.
 */

const RULES: readonly [RegExp, string][] = [
  // route add ... → route del ...
  [/^(\S*\broute)\s+add\b/, "$1 del"],
  // ip [-4|-6] route add ... → ip ... route del ...
  [/^(\S*\bip(?:\s+-[46])?\s+route)\s+(?:add|replace)\b/, "$1 del"],
  // iptables/ip6tables [-t T] -I|-A CHAIN [n] ... → -D CHAIN ...
  [/^(\S*\bip6?tables\b(?:\s+-w(?:\s+\d+)?)?(?:\s+-t\s+\S+)?)\s+-[IA]\s+(\S+)(?:\s+\d+)?\b/, "$1 -D $2"],
];

/** The undo template for `killRoute`, or undefined when it cannot be derived. */
export function routeUndoTemplate(killRoute: string, killRouteUndo: string | undefined): string | undefined {
  if (killRouteUndo !== undefined) return killRouteUndo;
  const trimmed = killRoute.trim();
  for (const [pattern, replacement] of RULES) {
    if (pattern.test(trimmed)) return trimmed.replace(pattern, replacement);
  }
  return undefined;
}
