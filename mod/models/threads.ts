/**
 * `threads`: N Web Workers, each binding its own SO_REUSEPORT listener on
 * the same address and serving it with the configured `concurrency`
 * (1 = the seeds' blocking thread pool, srv_threaded; 0 or N = one event
 * loop per thread, muduo's one-loop-per-thread). The kernel spreads new
 * connections over the workers' sockets; a SharedArrayBuffer limiter keeps
 * `max_connections`/`max_per_source` exact across them.
 *
 * Workers log for themselves (tag `w3`, the master's pid) and heartbeat
 * by message; the {@linkcode Pool} supervises them. Where SO_REUSEPORT
 * does not spread connections (not Linux), one accepting thread is used.
 *
 * @module
 */
import { log } from "../log/log.ts";
import { SharedLimiter } from "../net/limiter.ts";
import type { Model, ModelContext, RunningListener } from "./contract.ts";
import { limitsOf } from "./in_isolate.ts";
import type { FromWorker, ToWorker } from "./messages.ts";
import { Pool, type SpawnWorker, type WorkerExit } from "./pool.ts";

const WORKER_URL = new URL("./thread_worker.ts", import.meta.url);
/** Limiter slots: the most threads a pool may ever have at once. */
const MAX_THREADS = 1024;

/** Worker count for this platform, logging a fallback. */
export function effectiveWorkers(
  requested: number,
  kind: "thread" | "process",
  name: string,
): number {
  if (Deno.build.os === "linux" || requested <= 1) return requested;
  log("model").info(
    "{name}: SO_REUSEPORT does not spread connections on {os}; using one accepting {kind} instead of {requested}",
    { name, os: Deno.build.os, kind, requested },
  );
  return 1;
}

/** The threads model. */
export const threads: Model = {
  name: "threads",
  async start(context: ModelContext): Promise<RunningListener> {
    const { spec } = context;
    const name = `listener[${spec.index}] (threads)`;
    const limiter = SharedLimiter.create(limitsOf(context.generation), {
      slots: MAX_THREADS,
    });
    const spawn: SpawnWorker = (request, onMessage) => {
      const worker = new Worker(WORKER_URL, {
        type: "module",
        name: request.tag,
      });
      let gone = false;
      let resolveExit: (exit: WorkerExit) => void = () => {};
      const exited = new Promise<WorkerExit>((resolve) =>
        resolveExit = resolve
      );
      const end = (exit: WorkerExit) => {
        if (gone) return;
        gone = true;
        worker.terminate();
        resolveExit(exit);
      };
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
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
        t: "init",
        tag: request.tag,
        spec,
        generation: request.generation,
        concurrency: spec.listener.concurrency,
        maxRequests: request.maxRequests,
        beatMs: request.beatMs,
        limiter: { buffer: limiter.buffer, slot: request.slot },
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
    const pool = new Pool({
      name,
      workers: effectiveWorkers(spec.listener.workers, "thread", name),
      generation: context.generation,
      spawn,
      // A worker that died holding connections must not hold their places.
      onGone: (slot) => limiter.releaseSlot(slot),
      maxWorkers: MAX_THREADS,
      ...(context.onFatal ? { onFatal: context.onFatal } : {}),
    });
    await pool.start();
    return {
      stats: () => pool.stats(),
      update(generation) {
        limiter.update(limitsOf(generation));
        pool.update(generation);
        return Promise.resolve();
      },
      drain: (timeoutMs) => pool.drain(timeoutMs),
      scale: (delta) => pool.scale(delta),
    };
  },
};
