/** KILL_FIREWALL → the built-in blocker that implements it (spec §2). */

import type { Config } from "../config/types.js";
import { IpsetResponder } from "./ipset.js";
import { IptablesResponder } from "./iptables.js";
import { NftablesResponder } from "./nftables.js";
import type { Responder } from "./responder.js";

export function createFirewall(config: Config): Responder | undefined {
  switch (config.killFirewall) {
    case "nftables":
      return new NftablesResponder();
    case "iptables":
      return new IptablesResponder();
    case "ipset":
      return new IpsetResponder();
    case "none":
      return undefined;
  }
}
