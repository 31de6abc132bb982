/**
 * `iterative`: one connection at a time, served to its end before the next
 * is accepted (the seeds' srv_single). Others wait in the kernel backlog.
 *
 * @module
 */
import type { Model } from "../contract.ts";
import { serveInIsolate } from "../in_isolate/serve.ts";

/** The iterative model. */
export const iterative: Model = {
  name: "iterative",
  start: (context) =>
    Promise.resolve(serveInIsolate(context, { concurrency: 1 })),
};
