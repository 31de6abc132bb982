/**
 * `/dev/stdout` and `/dev/stderr` as log destinations: they mean the
 * daemon's own fd 1 and fd 2, written through `Deno.stdout` and
 * `Deno.stderr`, never opened (they are symlinks to /proc/self/fd/N,
 * which the safe opening refuses, and Deno opens /dev and /proc paths only
 * under `--allow-all`).
 *
 * fd 2 is the daemon's in every koan process: children inherit it. fd 1 is
 * not: in a `processes` child it is the channel to the master, in a
 * per-connection child or `koan inetd` the client's connection. So stdout
 * is written here directly only in the master process — the isolate
 * tagged `master` and the worker threads it starts, which share its
 * descriptors. A child whose master relays its lines installs the relay
 * with {@linkcode routeStdout}; anywhere else a write is refused (and the
 * lines counted as lost, like any failed write).
 *
 * @module
 */

/** The name that means this process's fd 1. */
export const STDOUT_PATH = "/dev/stdout";
/** The name that means this process's fd 2. */
export const STDERR_PATH = "/dev/stderr";

let route: ((bytes: Uint8Array) => void) | undefined;
let master = true;

/** Whether this isolate is a worker thread (which shares the master's fds). */
const IN_THREAD = typeof (globalThis as { WorkerGlobalScope?: unknown })
  .WorkerGlobalScope === "function";

/**
 * Sends what would be written to stdout to `write` instead (a child whose
 * master relays its lines); `undefined` removes the route.
 *
 * @example Usage
 * ```ts
 * import { routeStdout, writeStdout } from "./stdout.ts";
 * const seen: Uint8Array[] = [];
 * routeStdout((bytes) => seen.push(bytes));
 * writeStdout(new TextEncoder().encode("a line\n"));
 * routeStdout(undefined);
 * if (seen.length !== 1) throw new Error("not routed");
 * ```
 */
export function routeStdout(
  write: ((bytes: Uint8Array) => void) | undefined,
): void {
  route = write;
}

/**
 * Tells whether this process is the master (the log layer calls it with
 * the tag `setupLogging` was given): only the master's fd 1 is the
 * daemon's stdout.
 */
export function setStdoutOwner(isMaster: boolean): void {
  master = isMaster;
}

/** The error a refused write throws: counted as lost like any failed write. */
export class StdoutUnavailableError extends Error {
  /** Creates the error. */
  constructor() {
    super(
      "Cannot write to stdout: in this process it is not the daemon's (a worker's channel to its master, or a client's connection)",
    );
    this.name = "StdoutUnavailableError";
  }
}

/**
 * Writes all of `bytes` (whole lines) to the daemon's stdout: through the
 * route when there is one, else to fd 1 where it is the daemon's.
 *
 * @throws {StdoutUnavailableError} where fd 1 is not the daemon's and no
 *   route is set.
 * @throws whatever `Deno.stdout.writeSync` throws (a closed stdout).
 */
export function writeStdout(bytes: Uint8Array): void {
  if (route) {
    route(bytes);
    return;
  }
  if (!master && !IN_THREAD) throw new StdoutUnavailableError();
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}
