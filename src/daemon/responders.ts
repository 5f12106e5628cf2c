/** Start-up step 6, the responders: the built-in firewall and hosts.deny, created if missing. */

import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import type { ResourceStack } from "../resources.js";
import { createFirewall } from "../respond/firewall.js";
import { HostsDenyResponder } from "../respond/hosts-deny.js";
import type { Responder } from "../respond/responder.js";
import { StartError } from "../start-error.js";

export interface StartedResponders {
  readonly firewall: Responder | undefined;
  readonly hostsDeny: HostsDenyResponder | undefined;
}

export async function startResponders(
  config: Config,
  log: Log,
  resources: ResourceStack,
): Promise<StartedResponders> {
  const anyBlocking = config.blockTcp === 1 || config.blockUdp === 1;
  const firewall = anyBlocking ? createFirewall(config) : undefined;
  const hostsDeny =
    anyBlocking && config.killHostsDeny !== undefined
      ? new HostsDenyResponder(config.wrapperHostsDeny, config.killHostsDeny, (m) => log.warn(m))
      : undefined;
  for (const responder of [firewall, hostsDeny]) {
    if (responder === undefined) continue;
    resources.add(`the ${responder.name} blocker`, () => responder.stop());
    const r = await responder.start();
    if (!r.ok) throw new StartError(`cannot start the ${responder.name} blocker: ${r.error}`, 1);
  }
  return { firewall, hostsDeny };
}
