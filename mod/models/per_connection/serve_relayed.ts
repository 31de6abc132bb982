/**
 * The end both per-connection children share: with the relayed connection
 * in hand (a transport over messages or frames), log with the child's tag,
 * build the protocol's handler, serve the one connection, and flush.
 *
 * @module
 */
import { writeAccess } from "../../log/access_log.ts";
import { flushLogs, setupLogging } from "../../log/log.ts";
import type {
  ConnectionInfo,
  ProtocolName,
  Transport,
} from "../../protocols/contract.ts";
import { protocolFor } from "../../protocols/registry.ts";
import type { Generation } from "../contract.ts";
import { createHandler } from "../in_isolate/env.ts";

/** What the master told the child about its connection. */
export interface RelayedConnection {
  /** Tag on this child's log lines: `c12`. */
  tag: string;
  protocol: ProtocolName;
  generation: Generation;
  info: ConnectionInfo;
  /**
   * False when the connection was accepted during `drain_delay`: readiness
   * probes answer 503 (not counted toward `drain_probes` from a child).
   * @default {true}
   */
  ready?: boolean;
}

/** Serves `connection` over `transport` to its end; `draining` aborts on the master's DRAIN. */
export async function serveRelayed(
  connection: RelayedConnection,
  transport: Transport,
  draining: AbortController,
): Promise<void> {
  setupLogging(connection.generation.config.log, { tag: connection.tag });
  const state = {
    get draining() {
      return draining.signal.aborted;
    },
    ready: connection.ready !== false,
  };
  const handler = createHandler(
    protocolFor(connection.protocol),
    connection.generation,
    state,
  );
  try {
    await handler(transport, {
      info: connection.info,
      draining: draining.signal,
      access: writeAccess,
    });
  } finally {
    transport.close();
    await flushLogs();
  }
}
