/**
 * The master's side of a shared accept queue: connections a worker took
 * from the kernel beyond its free slots (one poll of Deno's `node:net`
 * accepts every connection queued at that moment) come back here and go,
 * oldest first, to the worker with the most free slots. While any wait
 * here, workers are told to take from the master instead of the kernel,
 * so the oldest client is served first (see `mod/net/fd_accept.ts`).
 *
 * Generic over what carries a connection: a descriptor number between
 * threads, a handle over the IPC channel between processes.
 *
 * @module
 */
import { log } from "../log/log.ts";

/** A worker as the router sees it. */
export interface HandbackWorker<C> {
  /** Passes a connection over; false if the worker is gone. */
  deliver(conn: C): boolean;
  /** Tells the worker whether connections wait in the master. */
  queued(waiting: boolean): void;
}

/** Most connections held here; more are closed (the kernel backlog is 511). */
const MAX_QUEUED = 4096;

/** Routes handed-back connections to workers with free slots. */
export class HandbackRouter<C> {
  #discard: (conn: C) => void;
  #free = new Map<HandbackWorker<C>, number>();
  #queue: C[] = [];
  #closed = false;
  #warned = false;

  /** `discard` closes a connection nobody can take. */
  constructor(discard: (conn: C) => void) {
    this.#discard = discard;
  }

  /** Connections waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** A worker reported its free slots. */
  slots(worker: HandbackWorker<C>, free: number): void {
    if (this.#closed) return;
    const known = this.#free.has(worker);
    this.#free.set(worker, free);
    this.#flush();
    if (!known && this.#queue.length > 0) worker.queued(true);
  }

  /** A worker gave a connection back. */
  offer(conn: C): void {
    if (this.#closed) {
      this.#discard(conn);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED) {
      if (!this.#warned) {
        log("pool").warn(
          "{count} handed-back connections wait for a worker; closing more",
          { count: this.#queue.length },
        );
        this.#warned = true;
      }
      this.#discard(conn);
      return;
    }
    const wasEmpty = this.#queue.length === 0;
    this.#queue.push(conn);
    this.#flush();
    if (wasEmpty && this.#queue.length > 0) this.#broadcast(true);
  }

  /** A worker is gone (or retiring): route nothing more to it. */
  remove(worker: HandbackWorker<C>): void {
    this.#free.delete(worker);
  }

  /** Closes what waits; later offers are closed at once. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#queue.splice(0)) this.#discard(conn);
    this.#free.clear();
  }

  #flush(): void {
    const before = this.#queue.length;
    while (this.#queue.length > 0) {
      let best: HandbackWorker<C> | undefined;
      let most = 0;
      for (const [worker, free] of this.#free) {
        if (free > most) {
          best = worker;
          most = free;
        }
      }
      if (!best) break;
      const conn = this.#queue.shift()!;
      this.#free.set(best, most - 1);
      if (!best.deliver(conn)) {
        this.#free.delete(best);
        this.#queue.unshift(conn);
      }
    }
    if (before > 0 && this.#queue.length === 0) {
      this.#warned = false;
      this.#broadcast(false);
    }
  }

  #broadcast(waiting: boolean): void {
    for (const worker of this.#free.keys()) worker.queued(waiting);
  }
}
