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
 * wait mode and `node:fs` only when used.
 *
 * @module
 */
import { parseArgs } from "node:util";
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

function peerOfStdin(): string {
  // inetd gives no address; xinetd exports REMOTE_HOST when asked to.
  return Deno.env.get("REMOTE_HOST") ?? Deno.env.get("REMOTE_ADDR") ??
    "stdin";
}

/**
 * Whether stderr is the client's connection: the very socket on stdin, as
 * inetd and xinetd leave fds 0, 1 and 2. A socket of its own (journald's
 * stream under systemd's `StandardError=journal`) is a log destination.
 */
async function stderrIsClient(): Promise<boolean> {
  // node:fs costs ~25 ms of start-up; only a connection whose logs would
  // go to stderr pays it.
  const { fstatSync } = await import("node:fs");
  try {
    const err = fstatSync(2);
    if (!err.isSocket()) return false;
    const input = fstatSync(0);
    return input.dev === err.dev && input.ino === err.ino;
  } catch (error) {
    // No fd 0 or 2 at all: node:fs throws an Error with code "EBADF"
    // (checked on Deno 2.9.6, which also reopens a closed fd 2 on
    // /dev/null at start).
    if ((error as { code?: unknown })?.code !== "EBADF") throw error;
    return false;
  }
}

function parseInetdArgs(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        protocol: { type: "string" },
        config: { type: "string" },
        wait: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
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
  // The protocol's module loads while the config file is read.
  const [protocol, loaded] = await Promise.all([
    loadProtocol(name as ProtocolName),
    loadConfig(values.config === undefined ? {} : { path: values.config }),
  ]);
  const generation = await makeGeneration(loaded.config);
  const logSettings = { ...loaded.config.log };
  if (!logSettings.file && await stderrIsClient()) {
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
