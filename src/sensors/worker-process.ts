/**
 * The child side of a capture worker (capture-worker.ts, nflog-worker.ts): the IPC channel to
 * the daemon, "open" and "stop" from it, and exit when the daemon is gone. Each worker keeps
 * its own signal handling.
 */

/** What a worker does with its plan. */
export interface WorkerBody {
  open(): void;
  stop(): void;
}

type ParentMessage<Plan> = { readonly t: "open"; readonly plan: Plan } | { readonly t: "stop" };

/** Sends to the daemon; a closed channel means the daemon is gone, and so are we. */
export function sendToParent(message: unknown, done?: () => void): void {
  try {
    process.send?.(message, undefined, undefined, (err: Error | null) => {
      if (err) process.exit(0);
      done?.();
    });
  } catch {
    process.exit(0);
  }
}

/**
 * Serves the daemon: the first "open" creates and opens the body, "stop" stops it (or exits if
 * nothing was opened), a closed channel exits. Returns the body, once there is one.
 */
export function serveParent<Plan>(
  name: string,
  isParentMessage: (m: unknown) => m is ParentMessage<Plan>,
  create: (plan: Plan) => WorkerBody,
): () => WorkerBody | undefined {
  if (process.send === undefined) {
    process.stderr.write(`${name}: must be started by the portsentry daemon (no IPC channel)\n`);
    process.exit(2);
  }
  let body: WorkerBody | undefined;
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: unknown) => {
    if (!isParentMessage(m)) return;
    if (m.t === "open" && body === undefined) {
      body = create(m.plan);
      body.open();
    } else if (m.t === "stop") {
      if (body === undefined) process.exit(0);
      body.stop();
    }
  });
  return () => body;
}
