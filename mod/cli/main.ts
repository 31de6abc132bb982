/**
 * The command line (DESIGN §2): `serve` (default), `inetd`, `client`,
 * `bench`, `check-config`, `--version`, `--help`. Returns an exit code;
 * only `main.ts` calls `Deno.exit`.
 *
 * Each subcommand's module is imported when that subcommand runs, never
 * before: `koan inetd` starts once per connection and must not pay for
 * the daemon, the models, the bench or the help text (README, "Start-up
 * per connection").
 *
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";
import { VERSION } from "../util/version.ts";

async function run(
  first: string | undefined,
  rest: string[],
): Promise<number> {
  switch (first) {
    case "--help":
    case "-h":
    case "help": {
      const { helpText } = await import("./help.ts");
      console.log(helpText());
      return EXIT.ok;
    }
    case "--version":
    case "-V":
      console.log(`koan ${VERSION}`);
      return EXIT.ok;
    case "inetd": {
      const { runInetd } = await import("../daemon/inetd.ts");
      return await runInetd(rest);
    }
    case "_worker": { // hidden: a worker child of the processes models
      const { runWorkerProcess } = await import("../models/child.ts");
      return await runWorkerProcess(rest);
    }
    case "client": {
      const { runClient } = await import("./client.ts");
      return await runClient(rest);
    }
    case "bench": {
      const { runBench } = await import("../bench/cli.ts");
      return await runBench(rest);
    }
    case "check-config": {
      const { checkConfig } = await import("./serve.ts");
      return await checkConfig(rest);
    }
    case "serve":
    case undefined: { // no arguments at all: serve with the defaults
      const { serve } = await import("./serve.ts");
      return await serve(rest);
    }
    default: {
      if (!first.startsWith("-")) {
        throw new UsageError(`Unknown command "${first}"; see "koan --help"`);
      }
      const { serve } = await import("./serve.ts");
      return await serve([first, ...rest]);
    }
  }
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
    return await run(first, rest);
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
