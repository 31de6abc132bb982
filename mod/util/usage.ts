/**
 * The error for bad command-line use: one line on stderr, exit 2.
 *
 * @module
 */

/** A usage problem. */
export class UsageError extends Error {
  /** Creates the error with a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
