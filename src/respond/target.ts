/** Defence in depth: the one gate a block target passes before its address reaches a command. */

import { formatIp, parseIp } from "../decode/address.js";
import type { BlockTarget } from "./responder.js";

/**
 * The target's address re-parsed and re-formatted (canonical text: digits, dots, colons and
 * a-f only), or undefined when it is not an address or not of the target's family.
 */
export function commandSafeAddress(target: Pick<BlockTarget, "address" | "family">): string | undefined {
  const ip = parseIp(target.address);
  if (ip === undefined || ip.family !== target.family) return undefined;
  const text = formatIp(ip);
  return /^[0-9a-f.:]+$/.test(text) ? text : undefined;
}
