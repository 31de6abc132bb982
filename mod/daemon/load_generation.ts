/**
 * Loading the config a reload runs, in one place for the daemon and for
 * `koan check-config --diff`: the file and the flags (`loadConfig`), the
 * plan (`planConfig`: socket activation, each address used once, log files
 * that open safely) and the generation (`makeGeneration`: the aphorism
 * table, TLS certificates). A preview that loads the same way refuses the
 * same configs, with the same `ConfigError` line.
 *
 * @module
 */
import {
  loadConfig,
  type LoadedConfig,
  type LoadOptions,
} from "../config/load.ts";
import type { Config } from "../config/settings.ts";
import { lstatOrUndefined } from "../log/safe_file.ts";
import type { Generation } from "../models/contract.ts";
import type { InheritedSocket } from "./activation.ts";
import { makeGeneration } from "./generation.ts";
import { planConfig } from "./plan.ts";

/** Options for {@linkcode loadGeneration}. */
export interface LoadGenerationOptions {
  /** The sockets systemd passed, as the daemon adopted them. @default {[]} */
  inherited?: readonly InheritedSocket[];
  /**
   * A preview: log files that the plan's check creates (it opens each for
   * appending) are removed again, empty, so that looking leaves no file
   * owned by the caller (root, say) that the daemon could not open later.
   * @default {false}
   */
  dryRun?: boolean;
}

/** What {@linkcode loadGeneration} returns. */
export interface LoadedGeneration {
  /** The config as loaded, with its notes for the log and its file. */
  loaded: LoadedConfig;
  /** The planned config with the files it names. */
  generation: Generation;
}

/** The files `log` names that the plan opens (stderr and syslog are never opened). */
function logFiles(log: Config["log"]): string[] {
  const paths = [log.file, ...(log.access ? [log.access_file] : [])];
  return paths.filter((path) =>
    path !== "" && path !== "syslog" && !path.startsWith("syslog:")
  );
}

/** Removes the files of `paths` that exist now as empty regular files. */
function removeCreated(paths: readonly string[]): void {
  for (const path of paths) {
    const info = lstatOrUndefined(path);
    if (!info?.isFile || info.size !== 0) continue;
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

/**
 * Loads, plans and reads the files of the config a reload would run.
 * The daemon's reload and `koan check-config --diff` both call it.
 *
 * @example Usage
 * ```ts
 * import { loadGeneration } from "./load_generation.ts";
 * const { generation } = await loadGeneration({ env: () => undefined });
 * if (generation.config.listener.length !== 2) throw new Error("the defaults");
 * ```
 *
 * @throws {ConfigError} naming the key at fault, as the daemon logs it
 *   when it refuses a reload.
 */
export async function loadGeneration(
  options: LoadOptions,
  settings: LoadGenerationOptions = {},
): Promise<LoadedGeneration> {
  const loaded = await loadConfig(options);
  const created = settings.dryRun
    ? logFiles(loaded.config.log).filter((path) =>
      lstatOrUndefined(path) === undefined
    )
    : [];
  let config: Config;
  try {
    config = await planConfig(loaded, settings.inherited ?? [], options);
  } finally {
    removeCreated(created);
  }
  const generation = await makeGeneration(config);
  return { loaded, generation };
}
