/**
 * The command line (DESIGN §2): `serve` (default), `inetd`, `client`,
 * `bench`, `check-config`, the control commands `reopen`, `reload`,
 * `stop` and `status`, `--version`, `--help`; every command
 * answers `--help` and `-h`. Returns an exit code; only `main.ts` calls
 * `Deno.exit`. A usage or config error is one line on stderr and exit 2,
 * never a stack trace.
 *
 * Each subcommand's module is imported when that subcommand runs, never
 * before: `koan inetd` starts once per connection and must not pay for
 * the daemon, the models, the bench or the help text (README, "Start-up
 * per connection").
 *
 * The commands that keep running (`serve`, `inetd`, the hidden `_worker`)
 * first make the process ignore SIGUSR1, on which Deno opens a debugger
 * (`daemon/signals.ts`): as early as possible, since Deno arms it 500 ms
 * after start.
 *
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";
import { after } from "../util/timer.ts";
import { VERSION } from "../util/version.ts";
import type { Command } from "./help.ts";

/** The commands with a `--help` of their own (`help.ts` `COMMANDS`). */
const HELPED: readonly string[] = [
  "serve",
  "inetd",
  "client",
  "bench",
  "check-config",
  "reopen",
  "reload",
  "stop",
  "status",
] satisfies readonly Command[];

/** Whether `args` ask for help (`--help` or `-h` before any `--`). */
function asksHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

async function printHelp(command?: string): Promise<number> {
  if (command === undefined) {
    const { helpText } = await import("./help.ts");
    console.log(helpText());
    return EXIT.ok;
  }
  if (!HELPED.includes(command)) {
    throw new UsageError(`Unknown command "${command}"`);
  }
  const { commandHelp } = await import("./help.ts");
  console.log(await commandHelp(command as Command));
  return EXIT.ok;
}

/** When `koan inetd` ignores SIGUSR1 (see {@linkcode run}). */
const INETD_GUARD_MS = 100;

async function ignoreSigusr1(): Promise<void> {
  const { ignoreSigusr1 } = await import("../daemon/signals.ts");
  ignoreSigusr1(); // `serve` logs it when that is not possible
}

async function run(command: string, args: string[]): Promise<number> {
  if (HELPED.includes(command) && asksHelp(args)) {
    return await printHelp(command);
  }
  switch (command) {
    case "inetd": {
      // Loading the C library costs several ms: off the first answer's
      // path, yet well before Deno arms SIGUSR1 at 500 ms. A connection
      // served by then never pays it (`koan inetd` ends in Deno.exit, so
      // the timer keeps nothing alive). `after()`, not setTimeout, which
      // would load Node's timers first thing (util/timer.ts).
      after(INETD_GUARD_MS, () => void ignoreSigusr1());
      const { runInetd } = await import("../daemon/inetd.ts");
      return await runInetd(args);
    }
    case "_worker": { // hidden: a worker child of the processes models
      await ignoreSigusr1();
      const { ignoreReopenSignal } = await import("../daemon/signals.ts");
      ignoreReopenSignal(); // the master says when to reopen
      const { runWorkerProcess } = await import("../models/child.ts");
      return await runWorkerProcess(args);
    }
    case "client": {
      const { runClient } = await import("./client.ts");
      return await runClient(args);
    }
    case "bench": {
      const { runBench } = await import("../bench/cli.ts");
      return await runBench(args);
    }
    case "check-config": {
      const { checkConfig } = await import("./serve.ts");
      return await checkConfig(args);
    }
    case "reopen": {
      const { runReopen } = await import("./reopen.ts");
      return await runReopen(args);
    }
    case "reload": {
      const { runReload } = await import("./control.ts");
      return await runReload(args);
    }
    case "stop": {
      const { runStop } = await import("./control.ts");
      return await runStop(args);
    }
    case "status": {
      const { runStatus } = await import("./status.ts");
      return await runStatus(args);
    }
    case "serve": {
      await ignoreSigusr1();
      const { serve } = await import("./serve.ts");
      return await serve(args);
    }
    default:
      throw new UsageError(`Unknown command "${command}"`);
  }
}

/** Answers the top-level flags, or runs the command `args` name (`serve` by default). */
async function dispatch(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  switch (first) {
    case "--help":
    case "-h":
    case "help":
      if (rest.length > 1) {
        throw new UsageError(`Unexpected argument "${rest[1]}"`);
      }
      return await printHelp(rest[0]);
    case "--version":
    case "-V":
      if (rest.length > 0) {
        throw new UsageError(`Unexpected argument "${rest[0]}"`);
      }
      console.log(`koan ${VERSION}`);
      return EXIT.ok;
    case undefined: // no arguments at all: serve with the defaults
      return await run("serve", []);
    default:
      // `koan --zen :1060` is `koan serve --zen :1060`.
      return first.startsWith("-")
        ? await run("serve", args)
        : await run(first, rest);
  }
}

/** The command a usage error belongs to, for its `--help` hint. */
function commandOf(args: string[]): string {
  const [first] = args;
  if (first === undefined) return "serve";
  if (["--help", "-h", "--version", "-V"].includes(first)) return "";
  if (first.startsWith("-")) return "serve";
  return HELPED.includes(first) ? first : "";
}

/**
 * An error message as one line: `node:util`'s `parseArgs` adds advice on
 * positionals that start with `-` (not what a user of a flag needs), and
 * a message of several lines is joined.
 */
function oneLine(message: string, command: string): string {
  let line = message.replace(/\s*\n\s*/g, " ").trim();
  line = line.replace(
    /\. To specify a positional argument starting with.*$/,
    "",
  );
  if (command && /^(Unknown option|Option '|Unexpected argument)/.test(line)) {
    line += ` (see "koan ${command} --help")`;
  }
  return line;
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
  try {
    return await dispatch(args);
  } catch (error) {
    const command = commandOf(args);
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`koan: ${oneLine(error.message, command)}`);
      return EXIT.usage;
    }
    if (error instanceof Deno.errors.NotCapable) {
      // Run without a permission it needs: say which, not a stack trace.
      console.error(`koan: ${error.message.split("\n")[0]}`);
      return EXIT.usage;
    }
    const message = (error as Error)?.message ?? String(error);
    console.error(`koan: ${oneLine(message, "")}`);
    return EXIT.failure;
  }
}
