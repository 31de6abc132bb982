/**
 * Echo (RFC 862): every byte received is sent back. The purest benchmark of
 * a concurrency model, since the protocol itself costs nothing.
 *
 * @module
 */
import {
  type ConnectionContext,
  type Handler,
  type Outcome,
  type Protocol,
  type ProtocolEnv,
  type Transport,
  writeFailure,
} from "./contract.ts";
import { deadlines } from "../util/deadline.ts";

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
 *   settings: echo.settings(buildConfig({}).config),
 *   aphorisms: BUILT_IN_TABLE,
 *   state: { draining: false },
 * });
 * if (typeof handler !== "function") throw new Error("no handler");
 * ```
 */
export function createEchoHandler(env: ProtocolEnv<EchoSettings>): Handler {
  const idleMs = env.settings.idleTimeout * 1000;
  return async function serveEcho(
    transport: Transport,
    context: ConnectionContext,
  ): Promise<void> {
    const started = performance.now();
    const buffer = new Uint8Array(64 * 1024);
    let bytesIn = 0;
    let bytesOut = 0;
    let outcome: Outcome = "closed normally";
    let timedOut = false;
    let reading = true;
    const deadline = deadlines.create(() => {
      timedOut = true;
      transport.close();
    });
    const onDrain = () => {
      if (reading) transport.close();
    };
    context.draining.addEventListener("abort", onDrain);
    try {
      while (!context.draining.aborted) {
        reading = true;
        deadline.arm(idleMs);
        let n: number | null;
        try {
          n = await transport.read(buffer);
        } catch {
          n = null;
        }
        deadline.disarm();
        reading = false;
        if (n === null) {
          if (timedOut) outcome = "idle timeout";
          break;
        }
        bytesIn += n;
        try {
          await transport.write(buffer.subarray(0, n));
        } catch (error) {
          outcome = writeFailure(error);
          break;
        }
        bytesOut += n;
      }
      if (context.draining.aborted && outcome === "closed normally") {
        outcome = "draining";
      }
    } finally {
      context.draining.removeEventListener("abort", onDrain);
      deadline.dispose();
      transport.close();
      context.access({
        protocol: "echo",
        peer: context.info.peer,
        bytesIn,
        bytesOut,
        durationMs: performance.now() - started,
        outcome,
      });
    }
  };
}

/** Echo for the registry; a refused connection is closed without a word (RFC 862 has none). */
export const echo: Protocol<EchoSettings> = {
  name: "echo",
  busyReply: new Uint8Array(0),
  // Echo has no section of its own; it shares Zen's idle limit.
  settings: (config) => ({ idleTimeout: config.zen.idle_timeout }),
  create: createEchoHandler,
};
