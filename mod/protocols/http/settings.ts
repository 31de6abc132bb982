/**
 * What HTTP reads from the configuration: its own section, and Zen's for
 * the `/zen` route. Handlers and routes see this, never the whole config.
 *
 * @module
 */
import type { Config } from "../../config/settings.ts";
import type { ProtocolEnv } from "../contract.ts";

/** HTTP's settings. */
export interface HttpSettings {
  http: Config["http"];
  zen: Config["zen"];
}

/** The environment HTTP handlers and routes receive. */
export type HttpEnv = ProtocolEnv<HttpSettings>;
