/**
 * `deno task compile`: builds `dist/koan`, one executable with koan's
 * permissions baked in — explicit and as narrow as koan's own needs, never
 * `-A` — and its V8 heap flags ({@linkcode V8_FLAGS}), and every module
 * started as a Worker included (`--include`), since
 * `deno compile` only embeds what the static import graph reaches and a
 * `new Worker(new URL("./x.ts", import.meta.url))` target is not in it.
 *
 * `deno compile` appends the program to `denort`, Deno's runtime-only
 * binary, which it downloads for the target on first use. Where that
 * download is impossible (no internet) this script says so in one message
 * and exits 1; `DENORT_BIN=/path/to/denort` (same Deno version) is Deno's
 * own way to build offline.
 *
 *     deno task compile [--output dist/koan] [--install-path /usr/local/bin/koan] [--target T]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { LIBC_PATHS } from "../mod/util/self_command.ts";

const ROOT = new URL("../", import.meta.url);

/** Where the units and docs install the binary; the processes models run it from there. */
export const INSTALL_PATH = "/usr/local/bin/koan";

/**
 * The permission flags baked into the binary, each with the reason it is
 * needed:
 * - net: listeners bind the addresses the config names (known only then);
 * - read: config file, aphorism table, docroot, all chosen by the config;
 * - write: log file and pid file (config), the notify socket;
 * - env: koan reads KOAN_CONFIG, LISTEN_*, NOTIFY_SOCKET, WATCHDOG_* and
 *   REMOTE_*, but `node:child_process` (the processes models' children)
 *   reads the whole environment to pass it on, so env cannot be narrowed;
 * - run: only the binary itself (the `processes` and
 *   `process-per-connection` models start copies of it);
 * - sys: `osUptime` for the status page and bench;
 * - ffi: only the C library, for `clock_gettime(CLOCK_MONOTONIC)`
 *   (sd_notify's MONOTONIC_USEC; see `mod/daemon/clock.ts`) and for
 *   `signal(SIGUSR1, SIG_IGN)`: Deno opens a debugger on SIGUSR1 and has
 *   no switch against it (see `mod/daemon/signals.ts`);
 * - no prompt: a service has no one to ask.
 */
export function permissionFlags(installPath = INSTALL_PATH): string[] {
  return [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `--allow-run=${installPath}`,
    "--allow-sys=osUptime",
    `--allow-ffi=${LIBC_PATHS.join(",")}`,
    "--no-prompt",
  ];
}

/** Unstable APIs koan uses: SO_REUSEPORT and unix datagram sockets. */
export const UNSTABLE_FLAGS = ["--unstable-net"];

/**
 * V8 heap flags baked into the binary (`deno compile --v8-flags`, so every
 * copy of it has them: the daemon, its worker processes, `koan inetd`).
 * Semi-spaces of at most 4 MB instead of V8's 16 MB, and a full GC once
 * the old generation grows 25% past what the last one kept instead of up
 * to 4x: measured, about 25 MiB less RSS at 10k idle Zen connections and
 * 132–140 MiB instead of 172–185 MiB after 10k answers at once, for GC
 * time per request within noise of the default (README, "Memory per
 * connection"). `deno task start` and the benchmark suite
 * (`mod/bench/suite/_koan.ts`) pass the same list.
 */
export const V8_FLAGS = [
  "--max-semi-space-size=4",
  "--heap-growing-percent=25",
];

const WORKER_URL =
  /new URL\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g;

function walk(dir: URL, out: URL[]): void {
  for (const entry of Deno.readDirSync(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) walk(url, out);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      out.push(url);
    }
  }
}

/** A module found by {@linkcode workerModules}. */
export interface DynamicModule {
  /** Path relative to the repository root. */
  path: string;
  /** The file that refers to it. */
  from: string;
}

/**
 * Modules under `mod/` loaded by URL at run time (`new URL("./x.ts",
 * import.meta.url)`: Worker entry points), which `deno compile` must be
 * told to include.
 *
 * @throws {Error} when a file starts a Worker from anything else: its
 *   module would be missing from the binary.
 */
export function workerModules(root: URL = ROOT): DynamicModule[] {
  const files: URL[] = [];
  walk(new URL("mod/", root), files);
  const found = new Map<string, DynamicModule>();
  for (const file of files) {
    const text = Deno.readTextFileSync(file);
    const from = file.pathname.slice(root.pathname.length);
    const urls = [...text.matchAll(WORKER_URL)].map((m) => m[1]!);
    if (text.includes("new Worker(") && urls.length === 0) {
      throw new Error(
        `${from} starts a Worker without new URL("./module.ts", import.meta.url); the compile script cannot include its module`,
      );
    }
    for (const relative of urls) {
      const path = new URL(relative, file).pathname.slice(root.pathname.length);
      if (path === "main.ts") continue; // the entry point, embedded anyway
      found.set(path, { path, from });
    }
  }
  return [...found.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/** The `deno compile` arguments. */
export function compileArgs(options: {
  output: string;
  installPath?: string;
  target?: string;
}): string[] {
  return [
    "compile",
    ...UNSTABLE_FLAGS,
    ...permissionFlags(options.installPath),
    `--v8-flags=${V8_FLAGS.join(",")}`,
    ...workerModules().flatMap((m) => ["--include", m.path]),
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    "main.ts",
  ];
}

/** True when `deno compile` failed because it could not fetch `denort`. */
export function isDenortDownloadFailure(stderr: string): boolean {
  return /denort/i.test(stderr) &&
    /(error sending request|dns error|failed to lookup|Connect|timed out|Download)/i
      .test(stderr);
}

const USAGE =
  "Usage: deno task compile [--output dist/koan] [--install-path /usr/local/bin/koan] [--target TRIPLE]";

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        output: { type: "string", default: "dist/koan" },
        "install-path": { type: "string", default: INSTALL_PATH },
        target: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs: a TypeError for an unknown option, a missing value or a
    // stray argument. One line, exit 2 (DESIGN §2), no stack trace.
    if (!(error instanceof TypeError)) throw error;
    const message = error.message.replace(
      /\. To specify a positional argument starting with.*$/,
      "",
    );
    console.error(
      `deno task compile: ${message} (see "deno task compile --help")`,
    );
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const argv = compileArgs({
    output: values.output,
    installPath: values["install-path"],
    ...(values.target ? { target: values.target } : {}),
  });
  const result = await new Deno.Command(Deno.execPath(), {
    args: argv,
    cwd: ROOT.pathname,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    const size = Deno.statSync(new URL(values.output, ROOT)).size;
    console.error(
      `koan: built ${values.output} (${
        (size / 2 ** 20).toFixed(0)
      } MiB) with deno ${argv.join(" ")}\nkoan: install it as ${
        values["install-path"]
      } (the processes models run that path)`,
    );
    return 0;
  }
  if (isDenortDownloadFailure(stderr) && !Deno.env.get("DENORT_BIN")) {
    console.error(
      `koan: cannot compile: deno compile needs the denort runtime of Deno ${Deno.version.deno} for ${
        values.target ?? Deno.build.target
      }, and this machine cannot download it. Build on a machine with internet access, or set DENORT_BIN to a denort ${Deno.version.deno} binary and run "deno task compile" again.`,
    );
    return 1;
  }
  console.error(stderr.trimEnd());
  return result.code || 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
