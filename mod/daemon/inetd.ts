/**
 * `koan inetd --protocol P`: serve exactly one connection that inetd,
 * xinetd or systemd (`Accept=yes`) passed as stdin/stdout, then exit.
 * Nothing but protocol bytes ever goes to stdout; logs go to the log file,
 * or to stderr unless stderr is the client's socket too.
 *
 * `koan inetd --wait --protocol P`: inetd's `wait` mode, where fd 0 is the
 * listening socket (see `inetd_wait.ts`).
 *
 * @module
 */
import { fstatSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.ts";
import { PROTOCOL_NAMES } from "../config/settings.ts";
import { flushLogs, setupLogging } from "../log/log.ts";
import type { ProtocolName } from "../protocols/contract.ts";
import { protocolFor } from "../protocols/registry.ts";
import { stdioTransport } from "../net/stdio.ts";
import { UsageError } from "../util/usage.ts";
import { writeAccess } from "../log/access_log.ts";
import { makeGeneration } from "./generation.ts";
import { createHandler } from "../models/in_isolate/env.ts";
import { serveInheritedListener } from "./inetd_wait.ts";

function peerOfStdin(): string {
  // inetd gives no address; xinetd exports REMOTE_HOST when asked to.
  return Deno.env.get("REMOTE_HOST") ?? Deno.env.get("REMOTE_ADDR") ??
    "stdin";
}

function stderrIsSocket(): boolean {
  try {
    return fstatSync(2).isSocket();
  } catch (error) {
    // No fd 2 at all: node:fs throws an Error with code "EBADF" (checked on
    // Deno 2.9.6, which also reopens a closed fd 2 on /dev/null at start).
    if ((error as { code?: unknown })?.code !== "EBADF") throw error;
    return false;
  }
}

/** Runs one inetd-style connection; resolves with the exit code. */
export async function runInetd(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        protocol: { type: "string" },
        config: { type: "string" },
        wait: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  const name = values.protocol;
  if (!name || !(PROTOCOL_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(
      `koan inetd needs --protocol ${PROTOCOL_NAMES.join("|")}`,
    );
  }
  const protocol = protocolFor(name as ProtocolName);
  const loaded = await loadConfig(
    values.config === undefined ? {} : { path: values.config },
  );
  const generation = await makeGeneration(loaded.config);
  const logSettings = { ...loaded.config.log };
  if (!logSettings.file && stderrIsSocket()) {
    // stderr is the client here (plain inetd): keep it clean.
    logSettings.level = "error";
    logSettings.access = false;
  }
  setupLogging(logSettings, { tag: "inetd" });
  if (values.wait) {
    try {
      return await serveInheritedListener({ protocol, generation });
    } finally {
      flushLogs();
    }
  }
  const handler = createHandler(protocol, generation, { draining: false });
  const transport = stdioTransport(loaded.config.limits.send_timeout * 1000);
  await handler(transport, {
    info: { peer: peerOfStdin(), local: "stdin" },
    draining: new AbortController().signal,
    access: writeAccess,
  });
  flushLogs();
  return 0;
}
