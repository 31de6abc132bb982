/**
 * How koan starts another copy of itself (worker processes, `koan bench`
 * starting daemons): the compiled binary runs as is; under `deno run` the
 * same main module runs with the permissions this process holds — never
 * more, and never `-A`.
 *
 * @module
 */

/** Permission names mapped to their `--allow-*` flags. */
const PERMISSIONS = [
  ["net", "--allow-net"],
  ["read", "--allow-read"],
  ["write", "--allow-write"],
  ["env", "--allow-env"],
  ["run", "--allow-run"],
  ["sys", "--allow-sys"],
  ["ffi", "--allow-ffi"],
] as const;

/** The `--allow-*` flags for the permissions this process was granted in full. */
export function grantedFlags(): string[] {
  const flags: string[] = [];
  for (const [name, flag] of PERMISSIONS) {
    if (Deno.permissions.querySync({ name }).state === "granted") {
      flags.push(flag);
    }
  }
  return flags;
}

/** A command line to run koan with `args`. */
export interface SelfCommand {
  command: string;
  args: string[];
}

/**
 * Builds the command that runs koan again with `args` (a subcommand and its
 * options).
 *
 * @example Usage
 * ```ts
 * import { selfCommand } from "./self_command.ts";
 * const { command, args } = selfCommand(["--version"]);
 * if (!command || args.at(-1) !== "--version") throw new Error("bad command");
 * ```
 */
export function selfCommand(args: string[]): SelfCommand {
  if (Deno.build.standalone) {
    return { command: Deno.execPath(), args };
  }
  const main = new URL("../../main.ts", import.meta.url);
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      ...grantedFlags(),
      main.protocol === "file:" ? main.pathname : main.href,
      ...args,
    ],
  };
}
