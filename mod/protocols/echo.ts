/**
 * Echo (RFC 862): every byte received is sent back. The purest benchmark of
 * a concurrency model, since the protocol itself costs nothing.
 *
 * @module
 */
import type { Handler, Protocol, ProtocolEnv } from "./contract.ts";
import { serveSession, type Session } from "./read_loop.ts";

/** What echo reads from the configuration. */
export interface EchoSettings {
  /** Seconds a silent connection stays open (`zen.idle_timeout`). */
  idleTimeout: number;
}

/**
 * Creates the echo handler; a connection silent for `zen.idle_timeout` is closed.
 *
 * @example Usage
 * ```ts
 * import { createEchoHandler, echo } from "./echo.ts";
 * import { BUILT_IN_TABLE } from "./zen/aphorisms.ts";
 * import { buildConfig } from "../config/load.ts";
 * const handler = createEchoHandler({
 *   settings: echo.settings((await buildConfig({})).config),
 *   aphorisms: BUILT_IN_TABLE,
 *   state: { draining: false },
 * });
 * if (typeof handler !== "function") throw new Error("no handler");
 * ```
 */
export function createEchoHandler(env: ProtocolEnv<EchoSettings>): Handler {
  const options = {
    protocol: "echo",
    idleMs: env.settings.idleTimeout * 1000,
    burstSize: 64 * 1024,
  };
  return (transport, context) =>
    serveSession(transport, context, ECHO, options);
}

/**
 * A byte stream: every read is the answer, nothing is ever partial. It
 * keeps no state, so one serves every connection.
 */
const ECHO: Session = {
  hasPartial: false,
  closeWith: undefined,
  receive: (buffer, length) =>
    length === buffer.length ? buffer : buffer.subarray(0, length),
};

/** Echo for the registry; a refused connection is closed without a word (RFC 862 has none). */
export const echo: Protocol<EchoSettings> = {
  name: "echo",
  busyReply: new Uint8Array(0),
  // Echo has no section of its own; it shares Zen's idle limit.
  settings: (config) => ({ idleTimeout: config.zen.idle_timeout }),
  create: createEchoHandler,
};
