/**
 * Entry module of one `threads` worker (a Web Worker). The master posts
 * `init` with the listener, the generation, the shared limiter (with the
 * pool's `request_rate` buckets) and a
 * descriptor of the pool's shared listening socket; the worker accepts
 * from it while it has room and serves until `drain`. Connections it took
 * beyond its room go back to the master as descriptors (threads share the
 * process's descriptor table), and come in the same way.
 *
 * Loaded by URL from `threads.ts`; `deno compile` must `--include` it.
 *
 * @module
 */
import { loadLogging } from "../../log/log.ts";
import { metrics } from "../../metrics/registry.ts";
import { SharedLimiter } from "../../net/limiter.ts";
import { shareRequestGate } from "../../protocols/request_rate.ts";
import type { FromWorker, PoolInit, ToWorker } from "../ipc/messages.ts";
import type { Generation } from "../contract.ts";
import {
  dispatchToWorker,
  PoolWorker,
  type WorkerSide,
} from "../pool/worker.ts";

// Typed view of the worker global: only what this module uses.
const scope = self as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

let worker: PoolWorker | undefined;
let tag = "w?";
// LogTape loads while the master prepares `init` (no top-level await: a
// worker that awaits before setting onmessage loses the first message).
const logging = loadLogging();

async function start(init: PoolInit): Promise<void> {
  tag = init.tag;
  const limiter = init.limiter
    ? SharedLimiter.attach(init.limiter.buffer, init.limiter.slot)
    : undefined;
  // The pool's request_rate table is in the same shared memory: every
  // thread counts a client's requests in it.
  if (limiter) shareRequestGate(limiter.requests);
  worker = await PoolWorker.start(init, {
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

const side: WorkerSide<Generation> = {
  get worker() {
    return worker;
  },
  async init(message) {
    await logging; // the worker's lines are written as it logs them
    await start(message);
    return undefined;
  },
  update: (generation) => worker?.update(generation, tag),
  drain(timeoutMs) {
    if (!worker) {
      scope.postMessage({ t: "drained", forced: 0 });
      return;
    }
    void worker.drain(timeoutMs).then((forced) =>
      scope.postMessage({ t: "drained", forced, metrics: metrics.snapshot() })
    );
  },
  conn(fd, force) {
    // Not adopted (no shared socket): the master's copy is the only one
    // left; handing it back lets the master close or reroute it.
    if (!worker?.adopt(fd, force)) scope.postMessage({ t: "handback", fd });
  },
};

scope.onmessage = (event) => void dispatchToWorker(event.data, side);
