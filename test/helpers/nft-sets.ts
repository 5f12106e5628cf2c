/** The portsentry table's address sets as the kernel holds them, read in a lab namespace. */

import type { Lab, NsRef } from "../netns/netns.js";

export interface SetElement {
  readonly address: string;
  /** The element's timeout in seconds; undefined when it has none. */
  readonly timeoutSec: number | undefined;
}

/** The elements of set `name` of `inet portsentry` in `where` ([] if absent). */
export async function setElements(lab: Lab, where: NsRef, name: string): Promise<readonly SetElement[]> {
  const r = await lab.exec(where, ["nft", "-j", "list", "set", "inet", "portsentry", name]);
  if (!r.ok) return [];
  const doc = JSON.parse(r.stdout) as {
    nftables: readonly {
      set?: { elem?: readonly (string | { elem: { val: string; timeout?: number } })[] };
    }[];
  };
  const set = doc.nftables.find((o) => o.set !== undefined)?.set;
  return (set?.elem ?? []).map((e) =>
    typeof e === "string"
      ? { address: e, timeoutSec: undefined }
      : { address: e.elem.val, timeoutSec: e.elem.timeout },
  );
}

/** The addresses in `blocked4` or `blocked6` of `inet portsentry` in `where` ([] if absent). */
export async function blockedSet(lab: Lab, where: NsRef, family: 4 | 6): Promise<readonly string[]> {
  return (await setElements(lab, where, `blocked${family}`)).map((e) => e.address);
}
