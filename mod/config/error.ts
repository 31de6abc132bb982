/**
 * The configuration error, on its own so that code which only catches it
 * (the CLI) need not load the loader and its validators.
 *
 * @module
 */

/** A configuration problem; the CLI prints its message and exits 2. */
export class ConfigError extends Error {
  /** Creates the error; `key` is the dotted path (`listener[0].address`). */
  constructor(key: string, reason: string) {
    super(key ? `${key}: ${reason}` : reason);
    this.name = "ConfigError";
  }
}
