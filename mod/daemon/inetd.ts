/**
 * `koan inetd --protocol P`: serve exactly one connection that inetd,
 * xinetd or systemd (`Accept=yes`) passed as stdin/stdout, then exit.
 * Nothing but protocol bytes ever goes to stdout; logs go to the log file,
 * or to stderr unless stderr is the client's socket too.
 *
 * `koan inetd --wait --protocol P`: inetd's `wait` mode, where fd 0 is the
 * listening socket (see `inetd_wait.ts`).
 *
 * Every connection pays this module's start-up, so it imports only what
 * one connection needs: the one protocol served (`loadProtocol`), the
 * wait mode only when used, LogTape only with the first leveled line
 * (`log.ts`), and nothing from `node:*` (the first Node module costs
 * 10–25 ms: docs/performance.md).
 *
 * @module
 */
import { loadConfig } from "../config/load.ts";
import { PROTOCOL_NAMES } from "../config/settings.ts";
import { flushLogs, log, setupLogging } from "../log/log.ts";
import { writeAccess } from "../log/access_log.ts";
import type { ProtocolName } from "../protocols/contract.ts";
import { loadProtocol } from "../protocols/load.ts";
import { stdioTransport } from "../net/stdio.ts";
import { createHandler } from "../models/in_isolate/env.ts";
import { UsageError } from "../util/usage.ts";
import { makeGeneration } from "./generation.ts";

/** The config sections one inetd connection reads. */
const INETD_SECTIONS = ["zen", "http", "limits", "log"] as const;

function peerOfStdin(): string {
  // inetd gives no address; xinetd exports REMOTE_HOST when asked to.
  return Deno.env.get("REMOTE_HOST") ?? Deno.env.get("REMOTE_ADDR") ??
    "stdin";
}

/** What `Deno.readLinkSync` throws when `/proc/self/fd/N` cannot be read. */
const NO_FD_LINK = [
  Deno.errors.NotFound, // no such fd, or no /proc
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable, // --allow-read does not cover /proc/self/fd
];

/** `socket:[inode]` for a socket fd; undefined for anything else or no fd. */
function socketOf(fd: number): string | undefined {
  try {
    const target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return target.startsWith("socket:") ? target : undefined;
  } catch (error) {
    if (!NO_FD_LINK.some((kind) => error instanceof kind)) throw error;
    return undefined;
  }
}

/**
 * Whether stderr is the client's connection: the very socket on stdin, as
 * inetd and xinetd leave fds 0, 1 and 2. A socket of its own (journald's
 * stream under systemd's `StandardError=journal`) is a log destination.
 * Read from `/proc/self/fd` (Linux), which costs microseconds where
 * `node:fs`'s `fstatSync` costs 25 ms of start-up.
 */
export function stderrIsClient(): boolean {
  const err = socketOf(2);
  return err !== undefined && err === socketOf(0);
}

/** `koan inetd`'s flags (DESIGN §2). */
export interface InetdFlags {
  protocol?: string;
  config?: string;
  wait?: boolean;
}

/**
 * Reads `--protocol P`, `--config FILE` (or `--flag=value`) and `--wait`.
 * A loop rather than `node:util`'s `parseArgs`, whose import would cost
 * every connection 10–25 ms; the messages match `parseArgs`'s.
 *
 * @example Usage
 * ```ts
 * import { parseInetdArgs } from "./inetd.ts";
 * const flags = parseInetdArgs(["--protocol=zen", "--wait"]);
 * if (flags.protocol !== "zen" || flags.wait !== true) throw new Error();
 * ```
 *
 * @throws {UsageError} for an unknown flag, a missing value or a stray argument.
 */
export function parseInetdArgs(args: readonly string[]): InetdFlags {
  const flags: InetdFlags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      throw new UsageError(`Unexpected argument '${arg}'`);
    }
    const equals = arg.indexOf("=");
    const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    if (name === "wait") {
      if (equals >= 0) {
        throw new UsageError(`Option '--wait' does not take an argument`);
      }
      flags.wait = true;
    } else if (name === "protocol" || name === "config") {
      const value = equals >= 0 ? arg.slice(equals + 1) : args[++i];
      if (value === undefined || (equals < 0 && value.startsWith("--"))) {
        throw new UsageError(`Option '--${name} <value>' argument missing`);
      }
      flags[name] = value;
    } else {
      throw new UsageError(`Unknown option '--${name}'`);
    }
  }
  return flags;
}

/**
 * Runs one inetd-style connection (or, with `--wait`, the listening
 * socket on fd 0); resolves with the exit code.
 *
 * @throws {UsageError} without a valid `--protocol`.
 * @throws {ConfigError} for an invalid config or aphorism file.
 */
export async function runInetd(args: string[]): Promise<number> {
  const values = parseInetdArgs(args);
  const name = values.protocol;
  if (!name || !(PROTOCOL_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(
      `koan inetd needs --protocol ${PROTOCOL_NAMES.join("|")}`,
    );
  }
  // The protocol's module loads while the config file is read. Only the
  // sections a connection uses are read and checked: no [[listener]]
  // (inetd owns the socket), no [daemon]; `koan check-config` judges all.
  const [protocol, loaded] = await Promise.all([
    loadProtocol(name as ProtocolName),
    loadConfig({
      ...(values.config === undefined ? {} : { path: values.config }),
      build: { sections: INETD_SECTIONS, listeners: false },
    }),
  ]);
  const generation = await makeGeneration(loaded.config);
  const logSettings = { ...loaded.config.log };
  if (!logSettings.file && stderrIsClient()) {
    // stderr is the client here (plain inetd): keep it clean. Access
    // lines with a destination of their own (access_file) still go there.
    logSettings.level = "error";
    if (!logSettings.access_file) logSettings.access = false;
  }
  setupLogging(logSettings, { tag: "inetd" });
  log("inetd").debug("serving {protocol} {ms} ms after start", {
    protocol: name,
    ms: Math.round(performance.now()),
  });
  if (values.wait) {
    const { serveInheritedListener } = await import("./inetd_wait.ts");
    try {
      return await serveInheritedListener({ protocol, generation });
    } finally {
      await flushLogs();
    }
  }
  const handler = createHandler(protocol, generation, { draining: false });
  const transport = stdioTransport(loaded.config.limits.send_timeout * 1000);
  await handler(transport, {
    info: { peer: peerOfStdin(), local: "stdin" },
    draining: new AbortController().signal,
    access: writeAccess,
  });
  await flushLogs();
  return 0;
}
