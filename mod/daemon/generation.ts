/**
 * Builds a {@linkcode Generation} from a loaded config: the part of a start
 * or reload that reads files besides the config itself.
 *
 * @module
 */
import type { Config } from "../config/settings.ts";
import { ConfigError, readNamedFile } from "../config/load.ts";
import {
  type AphorismTable,
  BUILT_IN_TABLE,
  parseAphorisms,
} from "../protocols/zen/aphorisms.ts";
import type { Generation } from "../models/contract.ts";

/**
 * Reads the aphorism table named by `zen.aphorisms`, or the built-in one.
 *
 * @throws {ConfigError} when the file cannot be read or is invalid.
 */
export async function loadAphorisms(config: Config): Promise<AphorismTable> {
  const path = config.zen.aphorisms;
  if (!path) return BUILT_IN_TABLE;
  const text = await readNamedFile(path, "zen.aphorisms");
  try {
    return await parseAphorisms(text, path);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ConfigError("zen.aphorisms", error.message);
  }
}

/** Builds the generation for `config`. */
export async function makeGeneration(config: Config): Promise<Generation> {
  return { config, aphorisms: await loadAphorisms(config) };
}
