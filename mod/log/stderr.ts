/**
 * stderr as the logs' destination of last resort, and the switch that
 * takes it away. Under plain inetd and xinetd, fds 0, 1 and 2 are all the
 * client's socket: a log line on stderr would be bytes in the client's
 * stream. `koan inetd` calls {@linkcode forbidStderr} before it reads its
 * config; from then on every write of the log layer that would go to
 * stderr (the leveled log with `file = ""`, an access log without a
 * destination of its own, the one-line report that syslog is out of
 * reach) is refused here instead.
 *
 * @module
 */

let forbidden = false;

/**
 * Forbids the log layer to write to stderr for the rest of this process.
 *
 * @example Usage
 * ```ts
 * import { forbidStderr, stderrAllowed } from "./stderr.ts";
 * forbidStderr();
 * if (stderrAllowed()) throw new Error("still allowed");
 * ```
 */
export function forbidStderr(): void {
  forbidden = true;
}

/**
 * Whether the log layer may write to stderr.
 *
 * @example Usage
 * ```ts
 * import { stderrAllowed } from "./stderr.ts";
 * if (!stderrAllowed()) throw new Error("a fresh process may write to stderr");
 * ```
 */
export function stderrAllowed(): boolean {
  return !forbidden;
}

/** The error a refused write throws: counted as lost like any failed write. */
export class StderrForbiddenError extends Error {
  /** Creates the error. */
  constructor() {
    super("Cannot write to stderr: it is the client's connection");
    this.name = "StderrForbiddenError";
  }
}

/**
 * Writes all of `bytes` to stderr.
 *
 * @throws {StderrForbiddenError} after {@linkcode forbidStderr}.
 * @throws whatever `Deno.stderr.writeSync` throws (a closed stderr).
 */
export function writeStderr(bytes: Uint8Array): void {
  if (forbidden) throw new StderrForbiddenError();
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}
