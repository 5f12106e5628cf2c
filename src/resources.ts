/**
 * What start-up opened, closed in reverse: the same list serves a failed start (roll back to
 * the state of a stopped daemon) and a stop, so that neither can forget a timer, a capture or
 * the kernel trap and leave the host half-armed or the process alive.
 */

export class ResourceStack {
  readonly #closers: { readonly name: string; readonly close: () => unknown }[] = [];
  #closing: Promise<void> | undefined;

  /** Adds what to undo, once the resource is (being) set up. */
  add(name: string, close: () => unknown): void {
    this.#closers.push({ name, close });
  }

  /**
   * Closes everything in reverse order, once (a second call gets the first's promise). A
   * failing step is reported and does not stop the others.
   */
  closeAll(onError: (name: string, err: unknown) => void): Promise<void> {
    this.#closing ??= (async () => {
      for (let c = this.#closers.pop(); c !== undefined; c = this.#closers.pop()) {
        try {
          await c.close();
        } catch (err) {
          onError(c.name, err);
        }
      }
    })();
    return this.#closing;
  }
}
