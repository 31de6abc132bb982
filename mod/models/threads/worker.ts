/**
 * Entry module of one `threads` worker (a Web Worker). The master posts
 * `init` with the listener, the generation, the shared limiter and a
 * descriptor of the pool's shared listening socket; the worker accepts
 * from it while it has room and serves until `drain`. Connections it took
 * beyond its room go back to the master as descriptors (threads share the
 * process's descriptor table), and come in the same way.
 *
 * Loaded by URL from `threads.ts`; `deno compile` must `--include` it.
 *
 * @module
 */
import { reopenLogs } from "../../log/log.ts";
import { setRemote } from "../../metrics/aggregate.ts";
import { setRemoteStatus } from "../../metrics/status.ts";
import { metrics } from "../../metrics/registry.ts";
import { SharedLimiter } from "../../net/limiter.ts";
import type { FromWorker, PoolInit, ToWorker } from "../ipc/messages.ts";
import { PoolWorker } from "../pool/worker.ts";

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
    handBack: (conn) => {
      const fd = conn.fdForIpc();
      if (fd < 0) return false;
      conn.close();
      scope.postMessage({ t: "handback", fd });
      return true;
    },
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
        scope.postMessage({ t: "drained", forced, metrics: metrics.snapshot() })
      );
      break;
    case "reopen":
      reopenLogs();
      break;
    case "conn":
      // Not adopted (no shared socket): the master's copy is the only one
      // left; handing it back lets the master close or reroute it.
      if (!worker?.adopt(message.fd)) {
        scope.postMessage({ t: "handback", fd: message.fd });
      }
      break;
    case "queued":
      worker?.masterQueue(message.waiting);
      break;
    case "metrics":
      setRemote(message.snapshot);
      setRemoteStatus(message.status);
      break;
    case "admitted":
      break;
  }
};
