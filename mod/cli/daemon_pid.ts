/**
 * How the control commands (`koan reopen`, `reload`, `stop`, `status`)
 * find the running daemon, all in one way: the pid in the pid file named
 * by `--pid-file`, or by the config's `[daemon] pid_file` (the config
 * found as `koan serve` finds it: `--config`, `$KOAN_CONFIG`,
 * `/etc/koan/koan.toml`). Only the sections a command needs are read, so
 * a config file being edited elsewhere does not stop a log rotation.
 *
 * A pid file that is a symlink, or anything but a regular file, is
 * refused: koan writes its own as a regular file renamed into place, so
 * such a one was planted and its pid is not ours to signal (logrotate
 * runs `koan reopen` as root).
 *
 * Exit codes (DESIGN §2): 0 done; 1 the daemon is not there (no pid
 * file, a pid file naming no process, or one this user may not signal);
 * 2 usage, or no pid file configured. `koan status` says 3 for "not
 * running", as LSB init scripts and `systemctl status` do.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ConfigError, loadConfig } from "../config/load.ts";
import type { Config, SectionName } from "../config/settings.ts";
import { type ControlSignal, sendSignal } from "../daemon/signals.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";

/** Where the daemon's pid is read from, and what named it. */
export interface PidSource {
  /** The pid file's path. */
  path: string;
  /** `--pid-file`, or the config key and file that named it. */
  from: string;
  /** The effective config, when the pid file came from it. */
  config?: Config;
}

/** The flags every control command takes to find the daemon. */
export const PID_OPTIONS = {
  "pid-file": { type: "string" },
  config: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** The values of {@linkcode PID_OPTIONS}. */
export interface PidFlags {
  /** `--pid-file FILE`. */
  "pid-file"?: string | undefined;
  /** `--config FILE`. */
  config?: string | undefined;
}

/**
 * Parses a control command's flags (no positionals): a bad one is a
 * {@linkcode UsageError} (exit 2).
 *
 * @example Usage
 * ```ts
 * import { parseFlags, PID_OPTIONS } from "./daemon_pid.ts";
 * const flags = parseFlags(["--pid-file", "/run/koan.pid"], PID_OPTIONS);
 * if (flags["pid-file"] !== "/run/koan.pid") throw new Error();
 * ```
 */
export function parseFlags<O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O }>>["values"] {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true })
      .values as ReturnType<
        typeof parseArgs<{ args: string[]; options: O }>
      >["values"];
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Reads a pid file's text: one pid of a single process (2 or more),
 * surrounding whitespace allowed.
 *
 * @example Usage
 * ```ts
 * import { parsePid } from "./daemon_pid.ts";
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

/** Options for {@linkcode pidSource}. */
export interface PidSourceOptions {
  /** The command, named in the error for a pid file not configured. @default {"reopen"} */
  command?: string;
  /** Config sections read besides `[daemon]`. @default {[]} */
  sections?: readonly SectionName[];
  /** Whether to read the config's listeners too. @default {false} */
  listeners?: boolean;
}

/**
 * The pid file `flags` name: `--pid-file`, or the config's
 * `[daemon] pid_file` (with the config, read as far as `options` ask).
 *
 * @example Usage
 * ```ts
 * import { pidSource } from "./daemon_pid.ts";
 * const source = await pidSource({ "pid-file": "/run/koan.pid" });
 * if (source.from !== "--pid-file") throw new Error();
 * ```
 *
 * @throws {UsageError} for both flags, or an empty `--pid-file`.
 * @throws {ConfigError} for a bad config, or no pid file configured.
 */
export async function pidSource(
  flags: PidFlags,
  options: PidSourceOptions = {},
): Promise<PidSource> {
  const flag = flags["pid-file"];
  if (flag !== undefined) {
    if (flags.config !== undefined) {
      throw new UsageError(
        "--pid-file and --config are alternatives: give one",
      );
    }
    if (flag === "") throw new UsageError("--pid-file needs a file name");
    return { path: flag, from: "--pid-file" };
  }
  const loaded = await loadConfig({
    ...(flags.config === undefined ? {} : { path: flags.config }),
    build: {
      sections: ["daemon", ...(options.sections ?? [])],
      listeners: options.listeners ?? false,
    },
  });
  const path = loaded.config.daemon.pid_file;
  const where = loaded.path
    ? `"${loaded.path}"`
    : "the defaults (no config file)";
  if (!path) {
    throw new ConfigError(
      "daemon.pid_file",
      `not set in ${where}; koan ${
        options.command ?? "reopen"
      } finds the daemon by it (or give --pid-file FILE)`,
    );
  }
  return { path, from: `daemon.pid_file in ${where}`, config: loaded.config };
}

/** What {@linkcode readPid} found. */
export type PidRead =
  | { pid: number }
  | {
    /** `absent`: no pid file; `refused`: not a regular file, unreadable or not a pid. */
    problem: "absent" | "refused";
    /** One line for stderr, after `koan: cannot VERB: `. */
    message: string;
  };

/**
 * Reads the daemon's pid from `source`, refusing a pid file that is not
 * a regular file (never following a symlink). Does not check that the
 * process exists.
 *
 * @example Usage
 * ```ts
 * import { readPid } from "./daemon_pid.ts";
 * const read = await readPid({ path: "/nonexistent/koan.pid", from: "--pid-file" });
 * if (!("problem" in read) || read.problem !== "absent") throw new Error();
 * ```
 *
 * @throws {Deno.errors.NotCapable} without read permission (exit 2).
 */
export async function readPid(source: PidSource): Promise<PidRead> {
  const named = `pid file "${source.path}" (${source.from})`;
  let text: string;
  try {
    const info = await Deno.lstat(source.path);
    if (!info.isFile) {
      return {
        problem: "refused",
        message: `${named} is ${
          info.isSymlink ? "a symlink" : "not a regular file"
        }; koan never writes one like that`,
      };
    }
    text = await Deno.readTextFile(source.path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        problem: "absent",
        message: `${named} does not exist; is koan running?`,
      };
    }
    if (error instanceof Deno.errors.NotCapable) throw error;
    return {
      problem: "refused",
      message: `cannot read pid file "${source.path}": ${
        (error as Error).message
      }`,
    };
  }
  try {
    return { pid: parsePid(text, source.path) };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return { problem: "refused", message: error.message };
  }
}

/**
 * Whether a process `pid` runs (exists and is not a zombie), from Linux's
 * `/proc`, without signalling it.
 *
 * @example Usage
 * ```ts
 * import { processRuns } from "./daemon_pid.ts";
 * if (!processRuns(Deno.pid)) throw new Error("this process runs");
 * ```
 */
export function processRuns(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ...": comm may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !==
      "Z";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Sends `signal` to `pid` through `daemon/signals.ts`, which uses
 * `Deno.kill` where this process may run programs and the C library's
 * `kill()` otherwise (the compiled binary's case).
 */
function send(pid: number, signal: ControlSignal): void {
  sendSignal(pid, signal);
}

/** What {@linkcode signalDaemon} did. */
export type Signalled = { pid: number } | { code: number };

/**
 * Finds the daemon through `source` and sends it `signal`, printing one
 * line on stderr (`koan: cannot VERB: ...`) when it cannot.
 *
 * @example Usage
 * ```ts
 * import { signalDaemon } from "./daemon_pid.ts";
 * const source = { path: "/nonexistent/koan.pid", from: "--pid-file" };
 * const original = console.error;
 * console.error = () => {};
 * const result = await signalDaemon(source, "SIGHUP", "reload");
 * console.error = original;
 * if (!("code" in result) || result.code !== 1) throw new Error();
 * ```
 */
export async function signalDaemon(
  source: PidSource,
  signal: ControlSignal,
  verb: string,
): Promise<Signalled> {
  const read = await readPid(source);
  if ("problem" in read) {
    console.error(`koan: cannot ${verb}: ${read.message}`);
    return { code: EXIT.failure };
  }
  const { pid } = read;
  try {
    send(pid, signal);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(
        `koan: cannot ${verb}: no process ${pid}; pid file "${source.path}" is stale (is koan running?)`,
      );
      return { code: EXIT.failure };
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      console.error(
        `koan: cannot ${verb}: not permitted to signal pid ${pid} (from "${source.path}"); run as koan's user or root`,
      );
      return { code: EXIT.failure };
    }
    throw error;
  }
  return { pid };
}
