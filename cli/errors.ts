/** Exit codes: what a script calling millrace can rely on. */
export const EXIT = {
  ok: 0,
  /** The run itself failed or was cancelled: a cell raised, timed out, or the kernel died. */
  runFailed: 1,
  /** The command line, a notebook or a parameter file is wrong. */
  badInput: 2,
  /** Temporal, Jupyter or the store could not be reached or started. */
  environment: 3,
  /** A bug in millrace: please report it with MILLRACE_DEBUG=1 output. */
  internal: 4,
} as const;

/** An error the user can act on: printed as one line, no stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.badInput,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
