/**
 * `async`: one event loop serves every connection (the seeds' asyncio and
 * epoll servers, the Reactor). The default.
 *
 * @module
 */
import type { Model } from "../contract.ts";
import { serveInIsolate } from "../in_isolate/serve.ts";

/** The async model. */
export const asyncModel: Model = {
  name: "async",
  start: (context) =>
    Promise.resolve(serveInIsolate(context, { concurrency: 0 })),
};
