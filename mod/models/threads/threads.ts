/**
 * `threads`: N Web Workers accepting from ONE listening socket (the seeds'
 * srv_threaded: every thread blocked in `accept()` on the same listener)
 * and serving it with the configured `concurrency` (1 = the blocking
 * thread pool; 0 or N = one event loop per thread, muduo's
 * one-loop-per-thread). A SharedArrayBuffer limiter keeps
 * `max_connections`/`max_per_source`/`rate_per_source` exact across
 * them, and holds the pool's `request_rate` buckets.
 *
 * The master binds the socket and never accepts from it; each thread gets
 * a duplicate descriptor and polls it only while it has a free slot, so a
 * busy thread leaves new clients in the kernel queue for an idle one (see
 * `mod/net/fd_accept.ts`). Connections a thread took beyond its room come
 * back here as descriptors and go to a thread with room
 * ({@linkcode HandbackRouter}). Where raw socket handles are unavailable,
 * each thread binds its own SO_REUSEPORT socket instead (and, off Linux,
 * one accepting thread is used, since the kernel would not spread them).
 *
 * Workers log for themselves (tag `w3`, the master's pid) and heartbeat
 * by message; the {@linkcode Pool} supervises them.
 *
 * @module
 */
import { closeFd, SOCKET } from "../../net/fd_tcp.ts";
import { SharedLimiter } from "../../net/limiter.ts";
import type { Model, ModelContext, RunningListener } from "../contract.ts";
import { HandbackRouter, type HandbackWorker } from "../ipc/handback.ts";
import { limitsOf } from "../in_isolate/serve.ts";
import { noteSerialIdle } from "../in_isolate/serial.ts";
import type { FromWorker, ToWorker } from "../ipc/messages.ts";
import { poolSocket } from "../pool/shared_socket.ts";
import {
  runPool,
  type SpawnWorker,
  type WorkerExit,
  workerInit,
} from "../pool/supervisor.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
/** Limiter slots: the most threads a pool may ever have at once. */
const MAX_THREADS = 1024;

/** The threads model. */
export const threads: Model = {
  name: "threads",
  async start(context: ModelContext): Promise<RunningListener> {
    const { spec } = context;
    const name = `listener[${spec.index}] (threads)`;
    noteSerialIdle(context);
    const lease = poolSocket(context);
    const limiter = SharedLimiter.create(limitsOf(context.generation), {
      slots: MAX_THREADS,
    });
    const router = new HandbackRouter<number>((fd) => closeFd(fd, SOCKET));
    const spawn: SpawnWorker = (request, onMessage) => {
      const listenFd = lease?.dup();
      const worker = new Worker(WORKER_URL, {
        type: "module",
        name: request.tag,
      });
      let gone = false;
      let resolveExit: (exit: WorkerExit) => void = () => {};
      const exited = new Promise<WorkerExit>((resolve) =>
        resolveExit = resolve
      );
      const handback: HandbackWorker<number> = {
        deliver: (fd, force) => {
          if (gone) return false;
          worker.postMessage(
            { t: "conn", fd, ...(force ? { force } : {}) } satisfies ToWorker,
          );
          return true;
        },
        queued: (waiting) => {
          if (!gone) {
            worker.postMessage({ t: "queued", waiting } satisfies ToWorker);
          }
        },
      };
      const end = (exit: WorkerExit) => {
        if (gone) return;
        gone = true;
        router.remove(handback);
        worker.terminate();
        resolveExit(exit);
      };
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.t === "slots") {
          router.slots(handback, message.free, message.adopted);
          return;
        }
        if (message.t === "handback") {
          router.offer(message.fd);
          return;
        }
        onMessage(message);
        if (message.t === "drained") end({ code: 0 });
        else if (message.t === "boot-error") end({ code: 3 });
      };
      worker.onerror = (event: ErrorEvent) => {
        // Unhandled in the worker: keep the master alive, replace the worker.
        event.preventDefault();
        end({ error: event.message });
      };
      worker.onmessageerror = () => end({ error: "unreadable message" });
      const init: ToWorker = {
        ...workerInit(request, spec),
        limiter: { buffer: limiter.buffer, slot: request.slot },
        ...(listenFd === undefined ? {} : { listenFd }),
      };
      worker.postMessage(init);
      return {
        pid: Deno.pid,
        send: (message) => {
          if (!gone) worker.postMessage(message);
        },
        kill: () => end({ signal: "terminated" }),
        exited,
      };
    };
    return await runPool(context, {
      name,
      kind: "thread",
      spawn,
      limiter,
      router,
      lease,
      // A worker that died holding connections must not hold their places.
      onGone: (slot) => limiter.releaseSlot(slot),
      maxWorkers: MAX_THREADS,
    });
  },
};
