/**
 * Scaffolding for tests that need a config in a synchronous helper:
 * {@linkcode configOf} is `buildConfig` with valibot (and ipaddr.js, for
 * `trusted_proxies`) imported up front.
 *
 * @module
 */
import * as v from "valibot";
import { loadCidr } from "./cidr.ts";
import {
  buildConfigWith,
  type BuildOptions,
  type LoadedConfig,
  type Overrides,
} from "./load.ts";

await loadCidr();

/** `buildConfig(raw, overrides, options)`, synchronously. */
export function configOf(
  raw: unknown,
  overrides: Overrides = {},
  options: BuildOptions = {},
): LoadedConfig {
  return buildConfigWith(v, raw, overrides, options);
}
