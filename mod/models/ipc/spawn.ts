/**
 * How the master starts a child of its own program: under `deno run`, the
 * Deno binary with `run`, explicit permission flags and the main module;
 * in a `deno compile` binary, the binary itself (its permissions are baked
 * in). Either way followed by the hidden `_worker` subcommand.
 *
 * Permissions are derived from what this process holds, narrowed to what
 * a child needs, so a child never has more than its master and never `-A`.
 * One addition: FFI for the C library only, when the master may load it,
 * so the child can ignore SIGUSR1 as the master does (Deno opens a V8
 * inspector on it and has no switch to stop that; see
 * `util/self_command.ts`).
 *
 * @module
 */
import { libcFfiFlags } from "../../util/self_command.ts";

/** The hidden subcommand a child runs (see `mod/cli/main.ts`). */
export const WORKER_COMMAND = "_worker";

/** What a child will touch, for deriving its permission flags. */
export interface ChildNeeds {
  /** `host:port` it listens on (pool children); none for relay children. */
  net: string[];
  /** Paths it reads (docroot, log file). */
  read: string[];
  /** Paths it writes (log file). */
  write: string[];
  /**
   * It sends log lines to syslog: Deno sends datagrams only from a bound
   * socket, bound in Linux's abstract namespace, which takes `--allow-net`
   * outright (a scoped flag cannot name it).
   */
  syslog?: boolean;
}

/** The `[log]` settings {@linkcode logNeeds} reads. */
export interface LogDestinations {
  file: string;
  access: boolean;
  access_file: string;
}

/**
 * What a child's logging touches: the log file and the access file
 * (read and write: appended to), the syslog socket named by
 * `syslog`/`syslog:/path` (written: sent to).
 *
 * @example Usage
 * ```ts
 * import { logNeeds } from "./spawn.ts";
 * const needs = logNeeds({ file: "/var/log/koan.log", access: true, access_file: "syslog" });
 * if (!needs.syslog || !needs.write.includes("/dev/log")) throw new Error();
 * ```
 */
export function logNeeds(
  log: LogDestinations,
): { read: string[]; write: string[]; syslog: boolean } {
  const needs = { read: [] as string[], write: [] as string[], syslog: false };
  for (const spec of [log.file, log.access ? log.access_file : ""]) {
    if (spec === "") continue;
    if (spec === "syslog" || spec.startsWith("syslog:")) {
      needs.syslog = true;
      needs.write.push(spec === "syslog" ? "/dev/log" : spec.slice(7));
      continue;
    }
    needs.read.push(spec);
    needs.write.push(spec);
  }
  return needs;
}

const SYS_KINDS = [
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
] as const;

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch (error) {
    // A descriptor this Deno cannot express is not granted: TypeError for an
    // unknown name or sys kind, URIError for a host it cannot parse
    // (checked on Deno 2.9.6).
    if (!(error instanceof TypeError || error instanceof URIError)) {
      throw error;
    }
    return false;
  }
}

function flag(name: string, items: string[]): string[] {
  return items.length ? [`--allow-${name}=${items.join(",")}`] : [];
}

/**
 * Permission flags for a child under `deno run`: a permission this process
 * holds outright is passed outright; otherwise each thing the child needs
 * is passed only if this process may use it. `run`, `ffi` and `import` are
 * never passed: a worker starts no programs and loads no native code
 * ({@linkcode workerCommand} adds FFI for the C library alone, for
 * ignoring SIGUSR1).
 *
 * @example Usage
 * ```ts
 * import { permissionFlags } from "./spawn.ts";
 * const flags = permissionFlags({ net: ["127.0.0.1:1060"], read: [], write: [] });
 * if (flags.includes("-A")) throw new Error("never -A");
 * ```
 */
export function permissionFlags(needs: ChildNeeds): string[] {
  const flags: string[] = [];
  if (needs.syslog && needs.net.length === 0 && granted({ name: "net" })) {
    flags.push("--allow-net");
  }
  for (const name of ["net", "read", "write"] as const) {
    if (needs[name].length === 0) continue;
    if (granted({ name })) {
      flags.push(`--allow-${name}`);
      continue;
    }
    const items = [...new Set(needs[name])].filter((item) =>
      granted(
        name === "net" ? { name, host: item } : { name, path: item },
      )
    );
    flags.push(...flag(name, items));
  }
  if (granted({ name: "env" })) flags.push("--allow-env");
  if (granted({ name: "sys" })) {
    flags.push("--allow-sys");
  } else {
    flags.push(
      ...flag(
        "sys",
        SYS_KINDS.filter((kind) => granted({ name: "sys", kind })),
      ),
    );
  }
  return flags;
}

/** A command line for a child. */
export interface ChildCommand {
  command: string;
  args: string[];
}

/**
 * The command line that starts a worker child in `mode`.
 *
 * @throws {Deno.errors.PermissionDenied} when this process may not start
 *   its own executable (under `deno run` that takes `--allow-run`).
 */
export function workerCommand(
  mode: "pool" | "conn",
  needs: ChildNeeds,
): ChildCommand {
  const command = Deno.execPath();
  if (!granted({ name: "run", command })) {
    throw new Deno.errors.PermissionDenied(
      `Cannot start worker processes: no permission to run "${command}" (--allow-run)`,
    );
  }
  if (Deno.build.standalone) {
    return { command, args: [WORKER_COMMAND, mode] };
  }
  const main = new URL(Deno.mainModule);
  return {
    command,
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      // reusePort is behind this flag; deno.json usually grants it too.
      "--unstable-net",
      ...permissionFlags(needs),
      ...libcFfiFlags(),
      main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href,
      WORKER_COMMAND,
      mode,
    ],
  };
}

/** The hosts a child listening on `hostname:port` needs (`[v6]:port` for IPv6). */
export function netNeed(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}
