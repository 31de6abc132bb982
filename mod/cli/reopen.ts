/**
 * `koan reopen [--pid-file FILE | --config FILE]`: tells the running daemon
 * to reopen its log files (logrotate's `postrotate`), by sending
 * SIGUSR2 to the pid in its pid file. The file is `--pid-file`, or the
 * config's `[daemon] pid_file` (the config found as `koan serve` finds
 * it: `--config`, `$KOAN_CONFIG`, `/etc/koan/koan.toml`). Only `[daemon]`
 * is read, so a config file being edited elsewhere does not stop a
 * rotation.
 *
 * Never SIGUSR1: Deno opens a debugger on it (see `daemon/signals.ts`).
 *
 * Exit codes (DESIGN §2): 0 sent; 1 the daemon is not there (no pid
 * file, a pid file naming no process, or one this user may not signal);
 * 2 usage, or no pid file configured.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config/load.ts";
import { REOPEN_SIGNAL, sendSignal } from "../daemon/signals.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";

/** Where the daemon's pid is read from, and what named it. */
export interface PidSource {
  /** The pid file's path. */
  path: string;
  /** `--pid-file`, or the config key and file that named it. */
  from: string;
}

/**
 * Reads a pid file's text: one pid of a single process (2 or more),
 * surrounding whitespace allowed.
 *
 * @example Usage
 * ```ts
 * import { parsePid } from "./reopen.ts";
 * if (parsePid("4242\n", "/run/koan.pid") !== 4242) throw new Error();
 * ```
 *
 * @throws {RangeError} naming the file for anything else (empty, text,
 *   0, 1, negative: never a pid koan signals).
 */
export function parsePid(text: string, path: string): number {
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    const shown = text.trim().slice(0, 40);
    throw new RangeError(
      `pid file "${path}" does not hold a daemon's pid ("${shown}")`,
    );
  }
  return pid;
}

/** The pid file named by `args` (`--pid-file`, or the config's `[daemon] pid_file`). */
export async function pidSource(args: string[]): Promise<PidSource> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "pid-file": { type: "string" },
        config: { type: "string" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  const flag = values["pid-file"];
  if (flag !== undefined) {
    if (values.config !== undefined) {
      throw new UsageError(
        "--pid-file and --config are alternatives: give one",
      );
    }
    if (flag === "") throw new UsageError("--pid-file needs a file name");
    return { path: flag, from: "--pid-file" };
  }
  const loaded = await loadConfig({
    ...(values.config === undefined ? {} : { path: values.config }),
    build: { sections: ["daemon"], listeners: false },
  });
  const path = loaded.config.daemon.pid_file;
  const where = loaded.path
    ? `"${loaded.path}"`
    : "the defaults (no config file)";
  if (!path) {
    throw new ConfigError(
      "daemon.pid_file",
      `not set in ${where}; koan reopen finds the daemon by it (or give --pid-file FILE)`,
    );
  }
  return { path, from: `daemon.pid_file in ${where}` };
}

/** `koan reopen`: signals the daemon; resolves with the exit code. */
export async function runReopen(args: string[]): Promise<number> {
  const source = await pidSource(args);
  let text: string;
  try {
    // koan writes its pid file as a regular file, renamed into place: a
    // symlink or anything else there was planted, and its pid is not ours
    // to signal (logrotate runs this as root).
    const info = await Deno.lstat(source.path);
    if (!info.isFile) {
      console.error(
        `koan: cannot reopen: pid file "${source.path}" (${source.from}) is ${
          info.isSymlink ? "a symlink" : "not a regular file"
        }; koan never writes one like that`,
      );
      return EXIT.failure;
    }
    text = await Deno.readTextFile(source.path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(
        `koan: cannot reopen: pid file "${source.path}" (${source.from}) does not exist; is koan running?`,
      );
      return EXIT.failure;
    }
    if (error instanceof Deno.errors.NotCapable) throw error; // exit 2
    console.error(
      `koan: cannot reopen: cannot read pid file "${source.path}": ${
        (error as Error).message
      }`,
    );
    return EXIT.failure;
  }
  let pid: number;
  try {
    pid = parsePid(text, source.path);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    console.error(`koan: cannot reopen: ${error.message}`);
    return EXIT.failure;
  }
  try {
    sendSignal(pid, REOPEN_SIGNAL);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(
        `koan: cannot reopen: no process ${pid}; pid file "${source.path}" is stale (is koan running?)`,
      );
      return EXIT.failure;
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      console.error(
        `koan: cannot reopen: not permitted to signal pid ${pid} (from "${source.path}"); run as koan's user or root`,
      );
      return EXIT.failure;
    }
    throw error;
  }
  return EXIT.ok;
}
