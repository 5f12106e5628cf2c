/**
 * A failure to start, with the exit status of spec §1 (2 config/usage, 1 anything else), or
 * (0) a stop signal that arrived during start-up. The CLI turns it into the exit status.
 */
export class StartError extends Error {
  readonly exitCode: 0 | 1 | 2;
  constructor(message: string, exitCode: 0 | 1 | 2) {
    super(message);
    this.exitCode = exitCode;
  }
}
