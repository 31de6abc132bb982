/**
 * `koan serve` (the daemon) and `koan check-config`: the two subcommands
 * that read serve flags, loaded by `main.ts` only when one of them runs.
 *
 * `koan check-config --diff` previews a reload instead: it finds the
 * running daemon by its pid file (as `koan reload` does), reads the
 * running record beside it (`daemon/running_record.ts`) and prints what a
 * SIGHUP would change (`daemon/reload_preview.ts`). Exit codes: 0 the
 * daemon would accept the reload, 1 no running daemon or no record of it,
 * 2 it would refuse (the line it would log), a usage error, or no pid file
 * configured.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { stringify } from "smol-toml";
import {
  ConfigError,
  type ListenerFlag,
  loadConfig,
  type LoadOptions,
  type Overrides,
} from "../config/load.ts";
import { SECTIONS, type Setting } from "../config/settings.ts";
import { flushLogs, loadLogging, log, setupLogging } from "../log/log.ts";
import { Daemon } from "../daemon/daemon.ts";
import { ignoreSigusr1 } from "../daemon/signals.ts";
import { makeGeneration } from "../daemon/generation.ts";
import { checkLogFiles } from "../daemon/plan.ts";
import {
  previewLines,
  previewReload,
  type ReloadPreview,
} from "../daemon/reload_preview.ts";
import {
  readRunningRecord,
  runningRecordPath,
} from "../daemon/running_record.ts";
import { CrashLoopError } from "../models/contract.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";
import {
  parseFlags,
  PID_OPTIONS,
  pidSource,
  processRuns,
  readPid,
} from "./daemon_pid.ts";

/** Flag name → dotted setting key, from the settings table. */
function settingFlags(): Map<string, string> {
  const flags = new Map<string, string>();
  for (const [section, settings] of Object.entries(SECTIONS)) {
    for (
      const [name, setting] of Object.entries(settings) as [string, Setting][]
    ) {
      if (setting.flag) flags.set(setting.flag, `${section}.${name}`);
    }
  }
  return flags;
}

/** The `serve` and `check-config` options, for the parser and the help test. */
export const SERVE_OPTIONS = {
  config: { type: "string" },
  zen: { type: "string", multiple: true },
  http: { type: "string", multiple: true },
  echo: { type: "string", multiple: true },
  model: { type: "string" },
  workers: { type: "string" },
  ...Object.fromEntries(
    [...settingFlags().keys()].map((flag) => [flag, { type: "string" }]),
  ),
} satisfies ParseArgsConfig["options"];

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      options: SERVE_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Turns `serve` flags into load options.
 *
 * @example Usage
 * ```ts
 * import { serveOptions } from "./serve.ts";
 * const options = serveOptions(["--zen", ":1060", "--log-level", "debug"]);
 * if (options.overrides?.values?.["log.level"] !== "debug") throw new Error();
 * ```
 *
 * @throws {UsageError} for an unknown flag or a stray argument.
 */
export function serveOptions(args: string[]): LoadOptions {
  const { values, positionals } = parse(args);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  }
  const v = values as Record<string, string | string[] | undefined>;
  const listeners: ListenerFlag[] = [];
  for (const protocol of ["zen", "http", "echo"] as const) {
    for (const address of (v[protocol] as string[] | undefined) ?? []) {
      listeners.push({ protocol, address });
    }
  }
  const overrides: Overrides = { values: {} };
  if (listeners.length) overrides.listeners = listeners;
  if (typeof v.model === "string") overrides.model = v.model;
  if (typeof v.workers === "string") overrides.workers = v.workers;
  for (const [flag, key] of settingFlags()) {
    const value = v[flag];
    if (typeof value === "string") overrides.values![key] = value;
  }
  const options: LoadOptions = { overrides };
  if (typeof v.config === "string") options.path = v.config;
  return options;
}

/** `koan serve`: runs the daemon until it stops; resolves with the exit code. */
export async function serve(args: string[]): Promise<number> {
  const options = serveOptions(args);
  const loaded = await loadConfig(options);
  checkLogFiles(loaded.config.log); // exit 2 naming the key, not a stack trace
  setupLogging(loaded.config.log, { tag: "master" });
  await loadLogging();
  const logger = log("daemon");
  const sigusr1 = ignoreSigusr1(); // done already by main(): the outcome
  if (!sigusr1.ignored) {
    logger.warn(
      "SIGUSR1 is not ignored ({reason}): Deno opens a debugger (V8 inspector on 127.0.0.1:9229) when koan receives it, so never send it; logs reopen on SIGUSR2 (koan reopen)",
      { reason: sigusr1.reason },
    );
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(loaded, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    logger.error("cannot start: {error}", { error: (error as Error).message });
    await flushLogs();
    return error instanceof CrashLoopError ? EXIT.workerBoot : EXIT.failure;
  }
  return await daemon.run();
}

/**
 * `koan check-config`: validates and prints the effective config; with
 * `--diff`, what a reload of the running daemon would change.
 */
export async function checkConfig(args: string[]): Promise<number> {
  if (args.includes("--diff")) return await checkConfigDiff(args);
  const loaded = await loadConfig(serveOptions(args));
  await makeGeneration(loaded.config); // the aphorism file must be valid too
  const source = loaded.path ? `from ${loaded.path}` : "defaults, no file";
  console.log(`# koan effective configuration (${source})`);
  console.log(stringify(loaded.config));
  for (const note of loaded.notes) console.log(`# note: ${note}`);
  return EXIT.ok;
}

/** Enters `dir` for the preview; says so when it cannot. */
function enter(dir: string): string | undefined {
  try {
    Deno.chdir(dir);
    return undefined;
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.PermissionDenied ||
        error instanceof Deno.errors.NotADirectory)
    ) throw error;
    return `cannot enter the daemon's working directory "${dir}" (${error.message}): relative paths are read from here`;
  }
}

/**
 * `koan check-config --diff [--pid-file F | --config F]`: what a reload
 * (SIGHUP) of the running daemon would change, one line each.
 *
 * @example Usage
 * ```ts
 * import { checkConfigDiff } from "./serve.ts";
 * const original = console.error;
 * console.error = () => {};
 * const code = await checkConfigDiff(["--diff", "--pid-file", "/nonexistent/koan.pid"]);
 * console.error = original;
 * if (code !== 1) throw new Error("no daemon is exit 1");
 * ```
 */
export async function checkConfigDiff(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    ...PID_OPTIONS,
    diff: { type: "boolean" },
  });
  const source = await pidSource(flags, { command: "check-config --diff" });
  const cannot = (message: string) => {
    console.error(`koan: cannot preview the reload: ${message}`);
    return EXIT.failure;
  };
  const read = await readPid(source);
  if ("problem" in read) return cannot(read.message);
  if (!processRuns(read.pid)) {
    return cannot(
      `no process ${read.pid}; pid file "${source.path}" is stale (is koan running?)`,
    );
  }
  const found = await readRunningRecord(source.path);
  if ("problem" in found) {
    return cannot(
      `${found.message} (pid file "${source.path}", ${source.from}); koan writes it at start and at every reload when [daemon] pid_file is set`,
    );
  }
  const { record } = found;
  if (record.pid !== read.pid) {
    return cannot(
      `running record "${
        runningRecordPath(source.path)
      }" is of pid ${record.pid}, the pid file names ${read.pid}`,
    );
  }
  // Named relative to where the operator stands, before the preview
  // moves to where the daemon stands.
  const given = flags.config === undefined ? undefined : resolve(flags.config);
  const notes: string[] = [];
  const unentered = enter(record.cwd);
  if (unentered) notes.push(unentered);
  let preview: ReloadPreview;
  try {
    preview = await previewReload(record);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`koan: the reload would be refused: ${error.message}`);
    return EXIT.usage;
  }
  const reads = preview.path === undefined
    ? undefined
    : resolve(record.cwd, preview.path);
  const file = reads === undefined ? "no config file" : `"${reads}"`;
  if (given !== undefined && reads !== given) {
    notes.push(
      `the daemon reloads ${file}, not "${flags.config}" (--config only named the pid file)`,
    );
  }
  console.log(
    `# pid ${record.pid}, ${file}, running config recorded ${record.writtenAt}`,
  );
  for (const line of previewLines(preview)) console.log(line);
  for (const note of [...notes, ...preview.notes]) {
    console.log(`# note: ${note}`);
  }
  return EXIT.ok;
}
