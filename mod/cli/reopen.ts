/**
 * `koan reopen [--pid-file FILE | --config FILE]`: tells the running daemon
 * to reopen its log files (logrotate's `postrotate`), by sending
 * SIGUSR2 to the pid in its pid file, found as every control command
 * finds it (`daemon_pid.ts`). Only `[daemon]` is read, so a config file
 * being edited elsewhere does not stop a rotation.
 *
 * Never SIGUSR1: Deno opens a debugger on it (see `daemon/signals.ts`).
 *
 * Exit codes (DESIGN §2): 0 sent; 1 the daemon is not there (no pid
 * file, a pid file naming no process, or one this user may not signal);
 * 2 usage, or no pid file configured.
 *
 * @module
 */
import { REOPEN_SIGNAL } from "../daemon/signals.ts";
import { EXIT } from "../util/exit.ts";
import {
  parseFlags,
  PID_OPTIONS,
  pidSource,
  signalDaemon,
} from "./daemon_pid.ts";

/**
 * `koan reopen`: signals the daemon; resolves with the exit code.
 *
 * @example Usage
 * ```ts
 * import { runReopen } from "./reopen.ts";
 * const original = console.error;
 * console.error = () => {};
 * const code = await runReopen(["--pid-file", "/nonexistent/koan.pid"]);
 * console.error = original;
 * if (code !== 1) throw new Error("no pid file is exit 1");
 * ```
 */
export async function runReopen(args: string[]): Promise<number> {
  const source = await pidSource(parseFlags(args, PID_OPTIONS));
  const sent = await signalDaemon(source, REOPEN_SIGNAL, "reopen");
  return "code" in sent ? sent.code : EXIT.ok;
}
