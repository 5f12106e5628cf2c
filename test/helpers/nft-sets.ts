/** The portsentry table's blocked sets as the kernel holds them, read in a lab namespace. */

import type { Lab, NsRef } from "../netns/netns.js";

/** The addresses in `blocked4` or `blocked6` of `inet portsentry` in `where` ([] if absent). */
export async function blockedSet(lab: Lab, where: NsRef, family: 4 | 6): Promise<readonly string[]> {
  const r = await lab.exec(where, ["nft", "-j", "list", "set", "inet", "portsentry", `blocked${family}`]);
  if (!r.ok) return [];
  const doc = JSON.parse(r.stdout) as {
    nftables: readonly { set?: { elem?: readonly (string | { elem: { val: string } })[] } }[];
  };
  const set = doc.nftables.find((o) => o.set !== undefined)?.set;
  return (set?.elem ?? []).map((e) => (typeof e === "string" ? e : e.elem.val));
}
