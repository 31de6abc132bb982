/**
 * The checks a configuration must pass before the daemon starts or a
 * reload is applied, beyond what `config/load.ts` checks per key: the
 * listener list after socket activation, addresses used once, models that
 * can serve an inherited socket (every model, where raw socket handles
 * let a pool share it), log files that open safely (never through a
 * symlink: `log/safe_file.ts`). Everything here
 * throws {@linkcode ConfigError}, so a bad reload is refused with one line
 * and the daemon keeps running.
 *
 * @module
 */
import { formatAddress, parseAddress } from "../config/address.ts";
import {
  ConfigError,
  type LoadedConfig,
  type LoadOptions,
} from "../config/load.ts";
import type { Config } from "../config/settings.ts";
import { openAppendSafely } from "../log/safe_file.ts";
import { STDERR_PATH, STDOUT_PATH } from "../log/stdout.ts";
import {
  activationListeners,
  type InheritedSocket,
  inheritedSocket,
  poolsServeInherited,
} from "./activation.ts";

/**
 * Models whose workers bind a socket each where raw socket handles are
 * unavailable, and so cannot take over an inherited one there.
 */
const OWN_SOCKET_MODELS = new Set(["threads", "processes"]);

/** The listener's address as the listen table keys it. */
export function addressKey(address: string): string {
  return formatAddress(parseAddress(address));
}

/**
 * Returns the config to run: `loaded.config` with its listeners replaced by
 * the socket-activation plan when sockets were inherited, checked. Notes
 * for the log are appended to `loaded.notes`.
 *
 * @throws {ConfigError} naming the listener or setting at fault.
 */
export async function planConfig(
  loaded: LoadedConfig,
  inherited: readonly InheritedSocket[],
  options: LoadOptions,
): Promise<Config> {
  let config = loaded.config;
  if (inherited.length > 0) {
    const plan = await activationListeners(loaded, inherited, options);
    config = { ...config, listener: plan.listeners };
    loaded.notes.push(...plan.notes);
  }
  const seen = new Map<string, number>();
  config.listener.forEach((listener, index) => {
    const key = addressKey(listener.address);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new ConfigError(
        `listener[${index}].address`,
        `"${listener.address}" is listener[${first}]'s address too`,
      );
    }
    seen.set(key, index);
    const fd = inheritedSocket(key);
    if (
      fd !== undefined && OWN_SOCKET_MODELS.has(listener.model) &&
      !poolsServeInherited()
    ) {
      throw new ConfigError(
        `listener[${index}].model`,
        `"${listener.model}" binds a socket in every worker on ${Deno.build.os} and cannot serve the socket systemd passed (fd ${fd}, ${key}); use async, iterative, thread-per-connection or process-per-connection`,
      );
    }
  });
  checkLogFiles(config.log);
  return config;
}

/**
 * Checks that the log file can be opened for appending, safely: it is a
 * regular file (a character device will do), or it is missing and is
 * created (mode 0640) — never a symlink. Stderr (`""`, `/dev/stderr`),
 * stdout (`/dev/stdout`) and syslog (`"syslog"`, `"syslog:/path"`) need
 * no check: they are never opened as files, a syslog daemon may start
 * later, and lines that cannot be sent are counted, not fatal.
 *
 * @throws {ConfigError} for `key` when it cannot, naming the path and why.
 */
export function checkLogFile(path: string, key = "log.file"): void {
  if (
    !path || path === STDERR_PATH || path === STDOUT_PATH ||
    path === "syslog" || path.startsWith("syslog:")
  ) return;
  try {
    openAppendSafely(path).close();
  } catch (error) {
    const message = (error as Error).message;
    // The refusals name the path already; Deno's own errors do not quote it.
    throw new ConfigError(
      key,
      message.startsWith(`Cannot open "${path}"`)
        ? `c${message.slice(1)}`
        : `cannot open "${path}": ${message}`,
    );
  }
}

/**
 * {@linkcode checkLogFile} for `log.file` and, when access lines are
 * written, `log.access_file`.
 *
 * @throws {ConfigError} naming the key whose file cannot be opened.
 */
export function checkLogFiles(log: Config["log"]): void {
  checkLogFile(log.file);
  if (log.access) checkLogFile(log.access_file, "log.access_file");
}
