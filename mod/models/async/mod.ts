/**
 * `async`, the default: one event loop serves every connection. A thin
 * model over `../in_isolate/` with unlimited concurrency.
 *
 * May import the model contract and `../in_isolate/`.
 *
 * @module
 */
export { asyncModel } from "./async.ts";
