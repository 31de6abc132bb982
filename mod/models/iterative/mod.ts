/**
 * `iterative`: one connection at a time in this isolate (the seeds'
 * srv_single). A thin model over `../in_isolate/` with concurrency 1.
 *
 * May import the model contract and `../in_isolate/`.
 *
 * @module
 */
export { iterative } from "./iterative.ts";
