/**
 * `iterative`: one connection at a time, served to its end before the next
 * is accepted (the seeds' srv_single). Others wait in the kernel backlog.
 *
 * @module
 */
import type { Model } from "../contract.ts";
import { serveInIsolate } from "../in_isolate/serve.ts";
import { noteSerialIdle } from "../in_isolate/serial.ts";

/** The iterative model. */
export const iterative: Model = {
  name: "iterative",
  start(context) {
    const running = serveInIsolate(context, { concurrency: 1 });
    noteSerialIdle(context);
    return Promise.resolve(running);
  },
};
