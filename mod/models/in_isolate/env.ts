/**
 * The one place a protocol's handler is built from a generation, so every
 * model (and inetd) hands protocols the same services, and each protocol
 * only the settings it picked ({@linkcode Protocol.settings}).
 *
 * @module
 */
import type {
  DaemonState,
  Handler,
  Protocol,
  ProtocolEnv,
} from "../../protocols/contract.ts";
import type { Generation } from "../contract.ts";
import { DenoFileSource } from "../../net/files.ts";

/** Builds `protocol`'s handler for `generation`. */
export function createHandler(
  protocol: Protocol,
  generation: Generation,
  state: DaemonState,
): Handler {
  const env: ProtocolEnv = {
    settings: protocol.settings(generation.config),
    aphorisms: generation.aphorisms,
    state,
  };
  const docroot = generation.config.http.docroot;
  if (docroot) env.files = new DenoFileSource(docroot);
  return protocol.create(env);
}
