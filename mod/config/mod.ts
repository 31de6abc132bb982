/**
 * Configuration: every setting declared once (`settings.ts`) drives the
 * TOML loader and validation (`load.ts`), the CLI flags and the help;
 * addresses (`address.ts`).
 *
 * Just above `util/`: imports nothing of koan's but `util/`.
 *
 * @module
 */
export { type Config, SECTIONS } from "./settings.ts";
export { buildConfig, ConfigError, loadConfig } from "./load.ts";
export { formatAddress, parseAddress } from "./address.ts";
