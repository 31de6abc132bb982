/**
 * What HTTP reads from the configuration: its own section, Zen's for the
 * `/zen` route, and which request headers the access format prints.
 * Handlers and routes see this, never the whole config.
 *
 * @module
 */
import type { Config } from "../../config/settings.ts";
import type { ProtocolEnv } from "../contract.ts";

/** HTTP's settings. */
export interface HttpSettings {
  http: Config["http"];
  zen: Config["zen"];
  /**
   * The request headers the access log prints (from `log.access_format`;
   * none when `log.access` is off): captured per request, no others.
   */
  accessHeaders: readonly string[];
}

/** The environment HTTP handlers and routes receive. */
export type HttpEnv = ProtocolEnv<HttpSettings>;
