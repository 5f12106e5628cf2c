/**
 * Start-up step 14, the armed daemon's signals: SIGTERM/SIGINT stop it (the one list of
 * resources closed in reverse; blocks stay in force), SIGHUP re-reads the configuration and
 * applies the ignore file at once (other changed keys are named and wait for a restart). A
 * signal that arrived during start-up is applied now.
 */

import type { RunOptions } from "../cli/args.js";
import { changedConfigKeys } from "../config/diff.js";
import { loadConfigOrThrow } from "../config/load.js";
import type { Config } from "../config/types.js";
import type { ServiceNotifier } from "../control/sd-notify.js";
import type { Log } from "../log/logger.js";
import * as msg from "../log/messages.js";
import type { DaemonSignal, SignalInbox } from "../signals.js";
import type { KernelTrapWiring } from "./kernel-trap.js";
import type { ProtectedSources } from "./protected-sources.js";

export interface SignalsStep {
  readonly options: RunOptions;
  readonly config: Config;
  readonly log: Log;
  readonly protect: ProtectedSources;
  readonly kernel: KernelTrapWiring;
  readonly service: ServiceNotifier;
  readonly signals: SignalInbox;
  readonly closeAll: () => Promise<void>;
  /** FLEET_URL: the password file again, for a rotated password (daemon/fleet.ts). */
  readonly onReload?: () => Promise<void> | undefined;
}

/** Takes the signals over; `stop` is also what the CLI and tests call. */
export function handleSignals(s: SignalsStep): { stopped: Promise<void>; stop: () => Promise<void> } {
  const { options, log, service } = s;
  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const reload = async (): Promise<void> => {
    service.reloading();
    try {
      const next = await loadConfigOrThrow(options.configPath);
      s.protect.replaceIgnore(next.ignore);
      await s.kernel.refreshIgnored();
      await s.kernel.refreshGrace();
      await s.onReload?.();
      log.notice(msg.reloaded(options.configPath));
      const changed = changedConfigKeys(s.config, next.config);
      if (changed.length > 0) log.warn(msg.changedAtRestart(changed));
    } catch (err) {
      log.error(msg.reloadFailed(options.configPath, (err as Error).message.replaceAll("\n", "; ")));
    } finally {
      service.ready();
    }
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      s.signals.close();
      service.stopping();
      for (const line of msg.shuttingDown()) log.notice(line);
      await s.closeAll();
      resolveStopped();
    })();
    return stopping;
  };
  s.signals.deliver((signal: DaemonSignal) => void (signal === "SIGHUP" ? reload() : stop()));
  return { stopped, stop };
}
