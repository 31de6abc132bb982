/**
 * Model name → implementation (gunicorn's worker registry). The daemon
 * selects models here and nowhere else.
 *
 * @module
 */
import type { ModelName } from "../config/settings.ts";
import type { Model } from "./contract.ts";
import { asyncModel } from "./async.ts";
import { iterative } from "./iterative.ts";

/** Every model koan has. */
export const MODELS: Readonly<Partial<Record<ModelName, Model>>> = {
  iterative,
  async: asyncModel,
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
