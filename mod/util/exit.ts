/**
 * koan's exit codes (DESIGN §2), where every layer can name them: the
 * CLI maps errors to them without loading the daemon.
 *
 * @module
 */

/**
 * Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config error,
 * 3 workers cannot boot (crash loop).
 *
 * @example Usage
 * ```ts
 * import { EXIT } from "./exit.ts";
 * if (EXIT.usage !== 2) throw new Error("DESIGN §2 says 2");
 * ```
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  workerBoot: 3,
} as const;
