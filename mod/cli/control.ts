/**
 * `koan reload` and `koan stop`: signal the running daemon found by its
 * pid file (`daemon_pid.ts`), as `nginx -s reload|stop` and `apachectl
 * graceful|stop` do.
 *
 * `reload` checks the config file first when the pid file came from it
 * (as `apachectl graceful` does): a config the daemon would refuse is
 * exit 2 and nothing is sent. Then it sends SIGHUP and exits 0 without
 * waiting: the daemon validates and applies the config in its own time
 * and logs the outcome (`koan status` counts reloads).
 *
 * `stop` sends SIGTERM and waits until the process is gone (Linux
 * `/proc`), at most `--timeout` seconds: by default the config's
 * `[limits] shutdown_timeout` plus 5 s, the time the daemon takes at
 * most before it forces its own stop.
 *
 * @module
 */
import { type SectionName, SECTIONS } from "../config/settings.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";
import {
  parseFlags,
  PID_OPTIONS,
  pidSource,
  processRuns,
  signalDaemon,
} from "./daemon_pid.ts";

/** How long `koan stop` waits past the daemon's own `shutdown_timeout`. */
export const STOP_GRACE_SECONDS = 5;

/** How often `koan stop` looks whether the daemon is gone. */
const POLL_MS = 50;

/**
 * `koan reload`: checks the config, sends SIGHUP; resolves with the exit code.
 *
 * @example Usage
 * ```ts
 * import { runReload } from "./control.ts";
 * const original = console.error;
 * console.error = () => {};
 * const code = await runReload(["--pid-file", "/nonexistent/koan.pid"]);
 * console.error = original;
 * if (code !== 1) throw new Error("no pid file is exit 1");
 * ```
 */
export async function runReload(args: string[]): Promise<number> {
  const source = await pidSource(parseFlags(args, PID_OPTIONS), {
    command: "reload",
    sections: Object.keys(SECTIONS) as SectionName[],
    listeners: true,
  });
  const sent = await signalDaemon(source, "SIGHUP", "reload");
  return "code" in sent ? sent.code : EXIT.ok;
}

/** Reads `--timeout`: seconds, 0 or more. */
function timeoutSeconds(text: string): number {
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(
      `--timeout must be seconds (0 or more), not "${text}"`,
    );
  }
  return seconds;
}

/**
 * `koan stop`: sends SIGTERM, waits until the daemon is gone; resolves
 * with the exit code (1 when it still runs after `--timeout`).
 *
 * @example Usage
 * ```ts
 * import { runStop } from "./control.ts";
 * const original = console.error;
 * console.error = () => {};
 * const code = await runStop(["--pid-file", "/nonexistent/koan.pid"]);
 * console.error = original;
 * if (code !== 1) throw new Error("no pid file is exit 1");
 * ```
 */
export async function runStop(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    ...PID_OPTIONS,
    timeout: { type: "string" },
  });
  const given = flags.timeout === undefined
    ? undefined
    : timeoutSeconds(flags.timeout);
  const source = await pidSource(flags, {
    command: "stop",
    sections: ["limits"],
  });
  const seconds = given ??
    (source.config?.limits.shutdown_timeout ??
        SECTIONS.limits.shutdown_timeout.default) + STOP_GRACE_SECONDS;
  const sent = await signalDaemon(source, "SIGTERM", "stop");
  if ("code" in sent) return sent.code;
  const deadline = Date.now() + seconds * 1000;
  while (processRuns(sent.pid)) {
    if (Date.now() >= deadline) {
      console.error(
        `koan: pid ${sent.pid} still runs ${seconds} s after SIGTERM; it may still be draining (koan stop again stops it at once)`,
      );
      return EXIT.failure;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return EXIT.ok;
}
