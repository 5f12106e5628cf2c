/**
 * Start-up step 4, files and state: the directories exist (made only inside safe ones) and only
 * root can write in them and above them; the state database opens; records that cannot be
 * written (a full disk) are retried by the catch-up.
 */

import { dirname, join } from "node:path";
import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";
import type { ResourceStack } from "../resources.js";
import { StartError } from "../start-error.js";
import { CatchUp } from "../state/catch-up.js";
import { preparePlaces } from "../state/safe-files.js";
import { StateStore } from "../state/store.js";

export interface OpenedState {
  readonly store: StateStore;
  readonly catchUp: CatchUp;
}

export async function openState(config: Config, log: Log, resources: ResourceStack): Promise<OpenedState> {
  const unsafe = await preparePlaces({
    create: [dirname(config.historyFile), dirname(config.blockedFile), config.stateDir],
    check: config.killHostsDeny !== undefined ? [dirname(config.wrapperHostsDeny)] : [],
    files: [config.historyFile],
  });
  if (unsafe !== undefined) throw new StartError(unsafe, 1);
  const catchUp = new CatchUp(log);
  resources.add("the record catch-up", () => catchUp.stop());
  let store: StateStore;
  try {
    store = new StateStore(join(config.stateDir, "state.db"));
  } catch (err) {
    throw new StartError(
      `cannot open the state database in ${config.stateDir}: ${(err as Error).message}`,
      1,
    );
  }
  resources.add("the state database", () => store.close());
  return { store, catchUp };
}
