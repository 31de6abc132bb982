/**
 * Entry module of one `threads` worker (a Web Worker). The master posts
 * `init` with the listener, the generation and the shared limiter; the
 * worker binds its own reusePort listener and serves it until `drain`.
 *
 * Loaded by URL from `threads.ts`; `deno compile` must `--include` it.
 *
 * @module
 */
import { reopenLogs } from "../log/log.ts";
import { SharedLimiter } from "../net/limiter.ts";
import type { FromWorker, PoolInit, ToWorker } from "./messages.ts";
import { PoolWorker } from "./pool_worker.ts";

// Typed view of the worker global: only what this module uses.
const scope = self as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

let worker: PoolWorker | undefined;
let tag = "w?";

function start(init: PoolInit): void {
  tag = init.tag;
  const limiter = init.limiter
    ? SharedLimiter.attach(init.limiter.buffer, init.limiter.slot)
    : undefined;
  worker = PoolWorker.start(init, {
    kind: "thread",
    send: (message) => scope.postMessage(message),
    ...(limiter ? { limiter } : {}),
  });
}

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "init":
      start(message);
      break;
    case "update":
      void worker?.update(message.generation, tag);
      break;
    case "drain":
      if (!worker) {
        scope.postMessage({ t: "drained", forced: 0 });
        break;
      }
      void worker.drain(message.timeoutMs).then((forced) =>
        scope.postMessage({ t: "drained", forced })
      );
      break;
    case "reopen":
      reopenLogs();
      break;
    case "admitted":
      break;
  }
};
