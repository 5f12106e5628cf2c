/**
 * The 1.2 reaction order (spec §6), written once: the live reactor carries it out and replay
 * prints it. KILL_RUN_CMD runs first with KILL_RUN_CMD_FIRST="1", else last; between them
 * hosts.deny, the built-in firewall and KILL_ROUTE, which the reactor starts together and logs
 * in this order. BLOCK_*="2" runs the command only. Pure.
 */

export type ReactionStep = "command" | "hosts.deny" | "firewall" | "route";

export interface ReactionSetup {
  /** KILL_RUN_CMD is set. */
  readonly command: boolean;
  readonly commandFirst: boolean;
  /** KILL_HOSTS_DENY is set. */
  readonly hostsDeny: boolean;
  /** KILL_FIREWALL is not "none". */
  readonly firewall: boolean;
  /** KILL_ROUTE is set. */
  readonly route: boolean;
}

export function reactionPlan(setup: ReactionSetup, level: 1 | 2): readonly ReactionStep[] {
  const command: ReactionStep[] = setup.command ? ["command"] : [];
  if (level === 2) return command;
  const middle: ReactionStep[] = [];
  if (setup.hostsDeny) middle.push("hosts.deny");
  if (setup.firewall) middle.push("firewall");
  if (setup.route) middle.push("route");
  return setup.commandFirst ? [...command, ...middle] : [...middle, ...command];
}
