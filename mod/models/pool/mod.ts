/**
 * A supervised worker pool, shared by `threads` and `processes`:
 *
 * - `supervisor.ts` — the master's arbiter per listener: restarts with
 *   backoff (`backoff.ts`), heartbeats, crash loop → exit 3, TTIN/TTOU,
 *   `max_requests` recycling, drain;
 * - `shared_socket.ts` — the one listening socket every worker accepts from;
 * - `worker.ts` — the body of one worker, thread or child alike: accept
 *   from the shared socket, serve, heartbeat, and the one message switch.
 *
 * May import the model contract, `../in_isolate/`, `../ipc/`, `net`,
 * `metrics`, `log`, `config`.
 *
 * @module
 */
export { Pool, runPool, type SpawnWorker } from "./supervisor.ts";
export { dispatchToWorker, PoolWorker, type WorkerSide } from "./worker.ts";
export { effectiveWorkers, poolSocket } from "./shared_socket.ts";
export { Backoff } from "./backoff.ts";
