/**
 * The command line (DESIGN §2): `serve` (default), `inetd`, `client`,
 * `bench`, `check-config`, `--version`, `--help`. Returns an exit code;
 * only `main.ts` calls `Deno.exit`.
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
import { flushLogs, log, setupLogging } from "../log/log.ts";
import { Daemon, EXIT } from "../daemon/daemon.ts";
import { VERSION } from "../util/version.ts";
import { helpText } from "./help.ts";
import { runClient } from "./client.ts";
import { runBench } from "../bench/cli.ts";
import { runInetd } from "../daemon/inetd.ts";
import { checkLogFile } from "../daemon/plan.ts";
import { CrashLoopError } from "../models/contract.ts";
import { runWorkerProcess } from "../models/child.ts";
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

const SERVE_OPTIONS = {
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

function parse(
  args: string[],
  options: ParseArgsConfig["options"],
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/** Turns `serve` flags into load options. */
export function serveOptions(args: string[]): LoadOptions {
  const { values, positionals } = parse(args, SERVE_OPTIONS, true);
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

async function serve(args: string[]): Promise<number> {
  const options = serveOptions(args);
  const loaded = await loadConfig(options);
  checkLogFile(loaded.config.log.file); // exit 2 naming log.file, not a stack trace
  setupLogging(loaded.config.log, { tag: "master" });
  const logger = log("daemon");
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(loaded, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    logger.error("cannot start: {error}", { error: (error as Error).message });
    flushLogs();
    return error instanceof CrashLoopError ? EXIT.workerBoot : EXIT.failure;
  }
  return await daemon.run();
}

async function checkConfig(args: string[]): Promise<number> {
  const loaded = await loadConfig(serveOptions(args));
  const { makeGeneration } = await import("../daemon/generation.ts");
  await makeGeneration(loaded.config); // the aphorism file must be valid too
  const source = loaded.path ? `from ${loaded.path}` : "defaults, no file";
  console.log(`# koan effective configuration (${source})`);
  console.log(stringify(loaded.config));
  for (const note of loaded.notes) console.log(`# note: ${note}`);
  return EXIT.ok;
}

/**
 * Runs the CLI and resolves with the process exit code.
 *
 * @example Usage
 * ```ts
 * import { main } from "./main.ts";
 * const code = await main(["--version"]);
 * if (code !== 0) throw new Error("--version failed");
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  try {
    switch (first) {
      case "--help":
      case "-h":
      case "help":
        console.log(helpText());
        return EXIT.ok;
      case "--version":
      case "-V":
        console.log(`koan ${VERSION}`);
        return EXIT.ok;
      case "serve":
        return await serve(rest);
      case "check-config":
        return await checkConfig(rest);
      case "client":
        return await runClient(rest);
      case "bench":
        return await runBench(rest);
      case "inetd":
        return await runInetd(rest);
      case "_worker": // hidden: a worker child of the processes models
        return await runWorkerProcess(rest);
      case undefined:
        return await serve([]);
      default:
        if (first.startsWith("-")) return await serve(args);
        throw new UsageError(
          `Unknown command "${first}"; see "koan --help"`,
        );
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`koan: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof Deno.errors.NotCapable) {
      // Run without a permission it needs: say which, not a stack trace.
      console.error(`koan: ${error.message.split("\n")[0]}`);
      return EXIT.usage;
    }
    console.error(`koan: ${(error as Error)?.message ?? String(error)}`);
    return EXIT.failure;
  }
}
