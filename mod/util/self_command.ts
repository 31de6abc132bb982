/**
 * How koan starts another copy of itself (worker processes, `koan bench`
 * starting daemons): the compiled binary runs as is; under `deno run` the
 * same main module runs with the permissions this process holds — never
 * more, and never `-A`.
 *
 * Deno ≥ 2.9.2 opens a V8 inspector on 127.0.0.1:9229 when a process gets
 * SIGUSR1, and Deno 2.9.6 has no flag, variable or `NODE_OPTIONS` entry to
 * stop it; a koan process ignores SIGUSR1 itself, through the C library's
 * `signal()` (`daemon/signals.ts`). So a copy of koan is passed the FFI
 * permission for the C library when this process holds it
 * ({@linkcode libcFfiFlags}): without it the copy could not ignore the
 * signal.
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

/**
 * Where the C library usually is on 64-bit Linux distributions: what a
 * koan process may load through FFI (`--allow-ffi=` these paths, baked
 * into the compiled binary).
 */
export const LIBC_PATHS = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
] as const;

function ffiGranted(path?: string): boolean {
  const descriptor: Deno.PermissionDescriptor = path === undefined
    ? { name: "ffi" }
    : { name: "ffi", path };
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * The FFI flag a copy of koan needs to ignore SIGUSR1 (see the module
 * notes): `--allow-ffi` narrowed to the C library paths this process may
 * load — never FFI whole, even when this process holds it whole — or
 * nothing when it may load none.
 *
 * @example Usage
 * ```ts
 * import { libcFfiFlags } from "./self_command.ts";
 * const flags = libcFfiFlags();
 * if (flags.includes("--allow-ffi")) throw new Error("never whole");
 * ```
 */
export function libcFfiFlags(): string[] {
  const paths = LIBC_PATHS.filter((path) => ffiGranted(path));
  return paths.length ? [`--allow-ffi=${paths.join(",")}`] : [];
}

/** `flags`, plus the C library's FFI flag unless FFI is passed whole. */
function withLibcFfi(flags: string[]): string[] {
  return flags.includes("--allow-ffi") ? flags : [...flags, ...libcFfiFlags()];
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
      ...withLibcFfi(grantedFlags()),
      main.protocol === "file:" ? main.pathname : main.href,
      ...args,
    ],
  };
}
