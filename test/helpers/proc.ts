// What /proc says of a process, for the wake-up test and the start-time bench.

import { readdir, readFile } from "node:fs/promises";
import { waitFor } from "../netns/netns.js";

/** Voluntary and involuntary context switches of every thread of `pid`, summed. */
export async function contextSwitches(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const status = await readFile(`/proc/${pid}/task/${tid}/status`, "utf8").catch(() => "");
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

/** Lets `ms` pass (a measuring window, not a wait for a condition). */
export async function passTime(ms: number, what = "time"): Promise<void> {
  const endMs = performance.now() + ms;
  await waitFor(() => performance.now() >= endMs, { timeoutMs: ms + 5_000, intervalMs: 250, what });
}
