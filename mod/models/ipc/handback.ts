/**
 * The master's side of a pool's shared accept queue: connections wait here
 * for a worker with a free slot and go, oldest first, to the worker with
 * the most free slots. They come from two places:
 *
 * - threads: what a worker's poll took beyond its free slots (one poll of
 *   Deno's `node:net` accepts every connection queued at that moment) is
 *   handed back here ({@linkcode HandbackRouter.offer}). While any wait
 *   here, workers are told to take from the master instead of the kernel,
 *   so the oldest client is served first (see `mod/net/fd_accept.ts`);
 * - processes (`concurrency > 0`): the master itself accepts from the
 *   shared socket ({@linkcode HandbackRouter.listen}), and only while some
 *   worker has a free slot nobody has been promised yet — so the kernel
 *   queue, not the master, holds clients while every worker is busy.
 *
 * Workers report free slots with the count of connections they have
 * adopted so far; the router subtracts what it sent since, so a report
 * overtaken by a hand-over never makes it promise one slot twice.
 *
 * Generic over what carries a connection: a descriptor number between
 * threads, a socket handle over the IPC channel to a child process.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import {
  BACKLOG,
  closeFd,
  parkListener,
  probeSocketFd,
  rawPipe,
  type RawTcp,
  rawTcp,
  SERVER,
  SOCKET,
} from "../../net/fd_tcp.ts";

/** A worker as the router sees it. */
export interface HandbackWorker<C> {
  /**
   * Passes a connection over; false if the worker is gone. `force`: the
   * worker keeps it even without a free slot ({@linkcode HandbackRouter.flushAll}).
   */
  deliver(conn: C, force?: boolean): boolean;
  /** Tells the worker whether connections wait in the master. */
  queued(waiting: boolean): void;
}

interface Seat {
  /** Free slots as last reported. */
  free: number;
  /** Hand-overs the worker had adopted at that report. */
  adopted: number;
  /** Hand-overs sent so far. */
  sent: number;
}

/** Most connections held here; more are closed (the kernel backlog is 511). */
const MAX_QUEUED = 4096;

/** Routes waiting connections to workers with free slots. */
export class HandbackRouter<C> {
  #discard: (conn: C) => void;
  #seats = new Map<HandbackWorker<C>, Seat>();
  #queue: C[] = [];
  #closed = false;
  #warned = false;
  /** Master accepting (processes): the spare descriptor, or the open handle. */
  #fd = -1;
  #listener: RawTcp | undefined;
  #wrap: ((raw: RawTcp) => C) | undefined;
  #Handle: new (kind: 0 | 1) => RawTcp = rawTcp()!;

  /** `discard` closes a connection nobody can take. */
  constructor(discard: (conn: C) => void) {
    this.#discard = discard;
  }

  /** Connections waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** True while the master accepts from the shared socket. */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  /**
   * Makes the master accept from the listening socket `fd` (owned by the
   * router from now on) whenever a worker has room; `wrap` turns an
   * accepted handle into what workers are passed.
   */
  listen(fd: number, wrap: (raw: RawTcp) => C): void {
    const probed = probeSocketFd(fd);
    fd = probed.fd;
    if (probed.unix) this.#Handle = rawPipe()!;
    this.#fd = fd;
    this.#wrap = wrap;
    this.#sync();
  }

  /** A worker reported its free slots and how many hand-overs it has adopted. */
  slots(worker: HandbackWorker<C>, free: number, adopted = 0): void {
    if (this.#closed) return;
    const seat = this.#seats.get(worker);
    if (seat) {
      seat.free = free;
      seat.adopted = adopted;
    } else {
      this.#seats.set(worker, { free, adopted, sent: 0 });
    }
    this.#flush();
    if (!seat && this.#queue.length > 0) worker.queued(true);
    this.#sync();
  }

  /** A worker gave a connection back (or the master accepted one). */
  offer(conn: C): void {
    if (this.#closed) {
      this.#discard(conn);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED) {
      if (!this.#warned) {
        log("pool").warn(
          "{count} connections wait for a worker; closing more",
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

  /**
   * A drain begins: passes every connection waiting here to a worker now,
   * the one with the most room first, whether or not it has a free slot
   * (`force`). Each was accepted from the kernel before the drain; a
   * worker serves it as its drain takes what is pending, where waiting
   * here would only see it closed when the pool is gone.
   */
  flushAll(): void {
    while (this.#queue.length > 0 && this.#seats.size > 0) {
      let best: HandbackWorker<C> | undefined;
      let most = -Infinity;
      for (const [worker, seat] of this.#seats) {
        const room = seat.free - (seat.sent - seat.adopted);
        if (room > most) {
          best = worker;
          most = room;
        }
      }
      const conn = this.#queue.shift()!;
      const seat = this.#seats.get(best!)!;
      seat.sent++;
      if (!best!.deliver(conn, true)) {
        this.#seats.delete(best!);
        this.#queue.unshift(conn);
      }
    }
    if (this.#queue.length === 0) this.#broadcast(false);
  }

  /** Connections passed to `worker` since it first reported its slots. */
  sentTo(worker: HandbackWorker<C>): number {
    return this.#seats.get(worker)?.sent ?? 0;
  }

  /** A worker is gone or draining: route nothing more to it. */
  remove(worker: HandbackWorker<C>): void {
    this.#seats.delete(worker);
    this.#sync();
  }

  /**
   * Stops accepting for good (a drain began) and closes the master's
   * descriptor of the socket; connections already here still go to
   * workers with room.
   */
  stopAccepting(): void {
    this.#wrap = undefined;
    if (this.#listener) {
      this.#listener.onconnection = null;
      this.#listener.close();
      this.#listener = undefined;
    } else if (this.#fd >= 0) {
      closeFd(this.#fd, SERVER);
    }
    this.#fd = -1;
  }

  /** Closes what waits and stops accepting; later offers are closed at once. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#queue.splice(0)) this.#discard(conn);
    this.#seats.clear();
    this.stopAccepting();
  }

  #room(seat: Seat): number {
    return Math.max(0, seat.free - (seat.sent - seat.adopted));
  }

  #flush(): void {
    const before = this.#queue.length;
    while (this.#queue.length > 0) {
      let best: HandbackWorker<C> | undefined;
      let most = 0;
      for (const [worker, seat] of this.#seats) {
        const room = this.#room(seat);
        if (room > most) {
          best = worker;
          most = room;
        }
      }
      if (!best) break;
      const conn = this.#queue.shift()!;
      const seat = this.#seats.get(best)!;
      seat.sent++;
      if (!best.deliver(conn)) {
        this.#seats.delete(best);
        this.#queue.unshift(conn);
      }
    }
    if (before > 0 && this.#queue.length === 0) {
      this.#warned = false;
      this.#broadcast(false);
    }
  }

  #broadcast(waiting: boolean): void {
    for (const worker of this.#seats.keys()) worker.queued(waiting);
  }

  /** Master accepting: poll the socket only while some room is unpromised. */
  #sync(): void {
    if (!this.#wrap) return;
    let room = 0;
    for (const seat of this.#seats.values()) room += this.#room(seat);
    const want = !this.#closed && room > this.#queue.length;
    if (want && !this.#listener && this.#fd >= 0) {
      const listener = new this.#Handle(SERVER);
      if (listener.open(this.#fd) !== 0) return;
      this.#fd = -1;
      listener.onconnection = () => this.#onConnection(listener);
      if (listener.listen(BACKLOG) === 0) this.#listener = listener;
      else {
        this.#fd = listener.fdForIpc();
        listener.close();
      }
    } else if (!want && this.#listener) {
      const spare = parkListener(this.#listener);
      if (spare !== undefined) {
        this.#listener = undefined;
        this.#fd = spare;
      }
    }
  }

  #onConnection(listener: RawTcp): void {
    for (;;) {
      const raw = new this.#Handle(SOCKET);
      if (listener.accept(raw) !== 0) break;
      this.offer(this.#wrap!(raw));
    }
    this.#sync();
  }
}
