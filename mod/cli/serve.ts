/**
 * `koan serve` (the daemon) and `koan check-config`: the two subcommands
 * that read serve flags, loaded by `main.ts` only when one of them runs.
 *
 * @module
 */
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
import { CrashLoopError } from "../models/contract.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";

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

/** `koan check-config`: validates and prints the effective config. */
export async function checkConfig(args: string[]): Promise<number> {
  const loaded = await loadConfig(serveOptions(args));
  await makeGeneration(loaded.config); // the aphorism file must be valid too
  const source = loaded.path ? `from ${loaded.path}` : "defaults, no file";
  console.log(`# koan effective configuration (${source})`);
  console.log(stringify(loaded.config));
  for (const note of loaded.notes) console.log(`# note: ${note}`);
  return EXIT.ok;
}
