/**
 * Model name → implementation (gunicorn's worker registry). The daemon
 * selects models here and nowhere else.
 *
 * @module
 */
import type { ModelName } from "../config/settings.ts";
import type { Model } from "./contract.ts";
import { asyncModel } from "./async/async.ts";
import { iterative } from "./iterative/iterative.ts";
import { processes } from "./processes/processes.ts";
import { processPerConnection } from "./per_connection/process_per_connection.ts";
import { threadPerConnection } from "./per_connection/thread_per_connection.ts";
import { threads } from "./threads/threads.ts";

/** Every model koan has. */
export const MODELS: Readonly<Record<ModelName, Model>> = {
  iterative,
  async: asyncModel,
  threads,
  processes,
  "thread-per-connection": threadPerConnection,
  "process-per-connection": processPerConnection,
};

/**
 * Looks a model up by name.
 *
 * @throws {RangeError} for a model koan does not have.
 */
export function modelFor(name: ModelName): Model {
  const model = MODELS[name];
  if (!model) throw new RangeError(`Model "${name}" is not available`);
  return model;
}
