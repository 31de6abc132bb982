/**
 * The one place a {@linkcode ProtocolEnv} is assembled from a generation,
 * so every model (and inetd) hands protocols the same services.
 *
 * @module
 */
import type { DaemonState, ProtocolEnv } from "../../protocols/contract.ts";
import type { Generation } from "../contract.ts";
import { DenoFileSource } from "../../net/files.ts";

/** Builds the protocol environment for `generation`. */
export function protocolEnv(
  generation: Generation,
  state: DaemonState,
): ProtocolEnv {
  const env: ProtocolEnv = {
    config: generation.config,
    aphorisms: generation.aphorisms,
    state,
  };
  const docroot = generation.config.http.docroot;
  if (docroot) env.files = new DenoFileSource(docroot);
  return env;
}
