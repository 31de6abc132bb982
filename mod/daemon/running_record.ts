/**
 * The running record: what the daemon runs, written beside its pid file as
 * `<pid_file>.config.json` so that `koan check-config --diff` can tell an
 * operator what a reload would change before SIGHUP is sent.
 *
 * The record holds the pid, the load options the daemon reloads with (its
 * serve flags, `$KOAN_CONFIG` and working directory as it saw them, since
 * a reload resolves the config file and relative paths in the daemon's
 * process, not the caller's), the sockets systemd passed, and the
 * effective planned config. The daemon writes it when it writes its pid
 * file and again after every reload it accepts; it removes it at exit,
 * together with the pid file, and only while it still names this process.
 * Only a daemon with `[daemon] pid_file` has one.
 *
 * It is written as the pid file is (`log/safe_file.ts`: a new file renamed
 * into place, never through a symlink) but with mode 0600: the config names
 * key files and internal addresses, which are the daemon user's business.
 * A record that cannot be written or removed is a warning, never a reason
 * to stop serving.
 *
 * @module
 */
import type { LoadOptions } from "../config/load.ts";
import type { Config } from "../config/settings.ts";
import { log } from "../log/log.ts";
import { removeFileHolding, replaceFileSafely } from "../log/safe_file.ts";
import type { InheritedSocket } from "./activation.ts";

/** Bytes of a record read at most when checking whose it is: configs are small. */
const RECORD_LIMIT = 1 << 20;

/** The mode a running record is created with (before the umask narrows it). */
export const RECORD_FILE_MODE = 0o600;

/** What a reload loads with: the JSON-serialisable part of the daemon's options. */
export type RecordedOptions = Pick<LoadOptions, "path" | "overrides" | "build">;

/** The content of `<pid_file>.config.json`. */
export interface RunningRecord {
  /** The daemon's pid: the record is only good while the pid file names it too. */
  pid: number;
  /** The `--config` and serve flags the daemon was started with. */
  options: RecordedOptions;
  /** `$KOAN_CONFIG` in the daemon's environment, when set. */
  env: { KOAN_CONFIG?: string };
  /** The daemon's working directory: relative paths are read from there. */
  cwd: string;
  /** The config file the running config was read from, if any. */
  configPath?: string;
  /** The sockets systemd passed (socket activation), as the daemon adopted them. */
  inherited: InheritedSocket[];
  /** The effective planned config the daemon runs. */
  config: Config;
  /** When it was written, ISO 8601. */
  writtenAt: string;
}

/** What {@linkcode saveRunningRecord} needs besides the config. */
export interface SaveRecordOptions {
  /** The daemon's load options; only the serialisable part is kept. */
  options: LoadOptions;
  /** The sockets systemd passed. @default {[]} */
  inherited?: readonly InheritedSocket[];
  /** The config file read (`LoadedConfig.path`). @default {undefined} */
  configPath?: string | undefined;
  /** The pid recorded. @default {Deno.pid} */
  pid?: number;
}

/** What {@linkcode readRunningRecord} found. */
export type RecordRead =
  | { record: RunningRecord }
  | {
    /** `absent`: no record; `refused`: not a regular file, unreadable or not a record. */
    problem: "absent" | "refused";
    /** One line for stderr, naming the file. */
    message: string;
  };

const logger = log("daemon");

/**
 * The running record's path for a pid file.
 *
 * @example Usage
 * ```ts
 * import { runningRecordPath } from "./running_record.ts";
 * if (runningRecordPath("/run/koan.pid") !== "/run/koan.pid.config.json") {
 *   throw new Error();
 * }
 * ```
 */
export function runningRecordPath(pidFile: string): string {
  return `${pidFile}.config.json`;
}

/**
 * Writes `record` beside `pidFile` (mode 0600), atomically and never
 * through a symlink.
 *
 * @example Usage
 * ```ts
 * import { readRunningRecord, writeRunningRecord } from "./running_record.ts";
 * import { configOf } from "../config/_testing.ts";
 * const dir = Deno.makeTempDirSync();
 * writeRunningRecord(`${dir}/koan.pid`, {
 *   pid: 4242,
 *   options: {},
 *   env: {},
 *   cwd: "/",
 *   inherited: [],
 *   config: configOf({}).config,
 *   writtenAt: new Date().toISOString(),
 * });
 * const read = await readRunningRecord(`${dir}/koan.pid`);
 * if (!("record" in read) || read.record.pid !== 4242) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @throws whatever creating, writing or renaming the file throws.
 */
export function writeRunningRecord(
  pidFile: string,
  record: RunningRecord,
): void {
  replaceFileSafely(
    runningRecordPath(pidFile),
    `${JSON.stringify(record, null, 2)}\n`,
    { mode: RECORD_FILE_MODE },
  );
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `value` has the shape of a record (enough for the diff to read it). */
function isRecord(value: unknown): value is RunningRecord {
  return isTable(value) && Number.isSafeInteger(value.pid) &&
    isTable(value.options) && isTable(value.env) &&
    typeof value.cwd === "string" && Array.isArray(value.inherited) &&
    isTable(value.config) && Array.isArray(value.config.listener) &&
    typeof value.writtenAt === "string" &&
    (value.configPath === undefined || typeof value.configPath === "string");
}

/**
 * Reads the running record beside `pidFile`, refusing one that is not a
 * regular file (never following a symlink). Does not check that its pid
 * runs.
 *
 * @example Usage
 * ```ts
 * import { readRunningRecord } from "./running_record.ts";
 * const read = await readRunningRecord("/nonexistent/koan.pid");
 * if (!("problem" in read) || read.problem !== "absent") throw new Error();
 * ```
 *
 * @throws {Deno.errors.NotCapable} without read permission.
 */
export async function readRunningRecord(pidFile: string): Promise<RecordRead> {
  const path = runningRecordPath(pidFile);
  let text: string;
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) {
      return {
        problem: "refused",
        message: `running record "${path}" is ${
          info.isSymlink ? "a symlink" : "not a regular file"
        }; koan never writes one like that`,
      };
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        problem: "absent",
        message: `no running record "${path}" beside the pid file`,
      };
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return {
        problem: "refused",
        message:
          `cannot read running record "${path}" (mode 0600): run as koan's user or root`,
      };
    }
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    value = undefined;
  }
  if (!isRecord(value)) {
    return {
      problem: "refused",
      message: `running record "${path}" is not one koan wrote`,
    };
  }
  return { record: value };
}

/**
 * Removes the running record beside `pidFile` if it is a regular file
 * (not a symlink) that names `pid`; returns why it was kept otherwise.
 *
 * @example Usage
 * ```ts
 * import {
 *   removeRunningRecord,
 *   runningRecordPath,
 * } from "./running_record.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(runningRecordPath(`${dir}/koan.pid`), '{"pid": 7}');
 * if (removeRunningRecord(`${dir}/koan.pid`, 42) !== "it holds pid 7, not this one") {
 *   throw new Error();
 * }
 * if (removeRunningRecord(`${dir}/koan.pid`, 7) !== undefined) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @returns undefined when removed or already gone; else why it was kept.
 * @throws whatever opening, reading or removing it throws (no permission).
 */
export function removeRunningRecord(
  pidFile: string,
  pid: number,
): string | undefined {
  let held: unknown;
  let read = false;
  const kept = removeFileHolding(runningRecordPath(pidFile), (text) => {
    read = true;
    try {
      held = (JSON.parse(text) as { pid?: unknown })?.pid;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
    return held === pid;
  }, RECORD_LIMIT);
  if (kept === undefined || !read) return kept;
  return held === undefined
    ? "it is not one koan wrote"
    : `it holds pid ${String(held)}, not this one`;
}

/** Whether `error` is one the operating system gave (it carries an errno code: EACCES, ENOSPC...). */
function isSystemError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" &&
    /^E[A-Z0-9]+$/.test(code);
}

/**
 * The daemon's side: writes the record of `config` (after its pid file is
 * written, and after every accepted reload) when `[daemon] pid_file` is
 * set. A record that cannot be written is logged as a warning; the daemon
 * serves on.
 *
 * @example Usage
 * ```ts
 * import { saveRunningRecord } from "./running_record.ts";
 * import { configOf } from "../config/_testing.ts";
 * // No pid file configured: nothing is written.
 * saveRunningRecord(configOf({}).config, { options: {} });
 * ```
 */
export function saveRunningRecord(
  config: Config,
  options: SaveRecordOptions,
): void {
  const pidFile = config.daemon.pid_file;
  if (!pidFile) return;
  const { path, overrides, build } = options.options;
  const recorded: RecordedOptions = {
    ...(path === undefined ? {} : { path }),
    ...(overrides === undefined ? {} : { overrides }),
    ...(build === undefined ? {} : { build }),
  };
  const env = options.options.env ?? ((name) => Deno.env.get(name));
  const koanConfig = env("KOAN_CONFIG");
  const record: RunningRecord = {
    pid: options.pid ?? Deno.pid,
    options: recorded,
    env: koanConfig === undefined ? {} : { KOAN_CONFIG: koanConfig },
    cwd: Deno.cwd(),
    ...(options.configPath === undefined
      ? {}
      : { configPath: options.configPath }),
    inherited: [...(options.inherited ?? [])],
    config,
    writtenAt: new Date().toISOString(),
  };
  try {
    writeRunningRecord(pidFile, record);
  } catch (error) {
    if (!isSystemError(error)) throw error;
    logger.warn(
      "running record {path} not written ({error}): koan check-config --diff cannot compare with this config",
      { path: runningRecordPath(pidFile), error: error.message },
    );
  }
}

/**
 * The daemon's side at exit: removes the record beside `[daemon] pid_file`
 * while it names `pid`; one that names another process (a daemon started
 * since) is left, and so is one that cannot be removed, with a warning.
 *
 * @example Usage
 * ```ts
 * import { dropRunningRecord } from "./running_record.ts";
 * import { configOf } from "../config/_testing.ts";
 * dropRunningRecord(configOf({}).config); // no pid file: nothing to do
 * ```
 */
export function dropRunningRecord(
  config: Config,
  pid: number = Deno.pid,
): void {
  const pidFile = config.daemon.pid_file;
  if (!pidFile) return;
  const path = runningRecordPath(pidFile);
  try {
    const kept = removeRunningRecord(pidFile, pid);
    if (kept !== undefined) {
      logger.warn("running record {path} left in place: {why}", {
        path,
        why: kept,
      });
    }
  } catch (error) {
    // As for the pid file: a record left behind is stale, not harmful
    // (`koan check-config --diff` checks its pid against the pid file's).
    if (!isSystemError(error)) throw error;
    logger.warn("running record {path} not removed: {error}", {
      path,
      error: error.message,
    });
  }
}
