/**
 * A pool worker's accept source on the pool's shared listening socket,
 * accepting only while it has room: the seeds' N threads (or preforked
 * processes) blocked in `accept()` on one socket, where a busy worker is
 * simply not in `accept()` and the kernel queue waits for an idle one.
 *
 * Deno has no blocking `accept()`. Its `node:net` layer polls a listening
 * handle and, each time it does, accepts *every* connection queued at that
 * moment (greedy per poll). So a worker
 * - holds its own duplicate of the socket open in a handle only while it
 *   has a free slot, and closes that handle (after duplicating the
 *   descriptor again for later) the moment it is full: a full worker does
 *   not poll, and new clients stay in the kernel queue for its siblings;
 * - gives back to the master what one poll took beyond its free slots
 *   (`handBack`); the master passes those to workers with room. Only a
 *   burst of near-simultaneous connects produces such extras.
 *
 * With `concurrency = 0` (unlimited) the handle just stays open. Without
 * a descriptor the source only serves what the master passes over
 * ({@linkcode FdAcceptSource.adopt}): the `processes` model's dispatch.
 *
 * A unix-domain socket works the same in `Pipe` handles: the descriptor
 * arrives without its address, so the source asks it its family once
 * (`probeSocketFd`). Its clients say peer `unix`, source `unix`, and local
 * `unix` (the path is not known here; `listen.ts` sources say
 * `unix:/path`).
 *
 * @module
 */
import net from "node:net";
import { log } from "../log/log.ts";
import type { AcceptedConn, AcceptSource } from "./acceptor.ts";
import {
  BACKLOG,
  closeFd,
  isPipe,
  parkListener,
  probeSocketFd,
  rawPipe,
  type RawTcp,
  rawTcp,
  SERVER,
  SOCKET,
} from "./fd_tcp.ts";
import { nodeConn } from "./node_source.ts";
import { UNIX_PEER } from "./unix.ts";

/** Options for {@linkcode FdAcceptSource}. */
export interface FdSourceOptions {
  /**
   * Descriptor of the listening socket; the source owns (and closes) it.
   * Absent: accept nothing, serve only what is adopted.
   */
  fd?: number;
  /** Connections this worker serves at once; 0 = unlimited. */
  concurrency: number;
  /**
   * Passes an accepted connection this worker has no room for to the
   * master; false if it cannot (then the connection waits here).
   */
  handBack?: (conn: RawTcp) => boolean;
  /**
   * Told the free slots whenever they change ({@linkcode UNLIMITED_SLOTS}
   * for `concurrency = 0`, and 0 once closed), with the count of
   * connections adopted so far, so the master can tell which of its
   * hand-overs the figure already includes.
   */
  onSlots?: (free: number, adopted: number) => void;
}

/** Free slots reported for `concurrency = 0`. */
export const UNLIMITED_SLOTS = 1 << 20;

interface Waiter {
  resolve: (conn: AcceptedConn) => void;
  reject: (error: Error) => void;
}

function closedError(): Error {
  return new Deno.errors.BadResource("Listener has been closed");
}

/** Accepts from a shared listening socket while there is room. */
export class FdAcceptSource implements AcceptSource {
  /** `TCP`, or `Pipe` for a unix socket. */
  #Handle: new (kind: 0 | 1) => RawTcp = rawTcp()!;
  #options: FdSourceOptions;
  /** The spare descriptor while no handle holds it; -1 while listening. */
  #fd: number;
  #listener: RawTcp | undefined;
  /** Accepted (or handed over) but not yet taken by `accept()`. */
  #ready: RawTcp[] = [];
  #waiters: Waiter[] = [];
  /** Taken by `accept()` and not yet closed. */
  #inUse = 0;
  #closed = false;
  /** The master holds older connections: take those before the kernel's. */
  #masterQueue = false;
  #reported = -1;
  #adopted = 0;
  #logger = log("net");

  /** Starts listening on `options.fd`. */
  constructor(options: FdSourceOptions) {
    this.#options = options;
    this.#fd = options.fd ?? -1;
    if (this.#fd >= 0) {
      const probed = probeSocketFd(this.#fd);
      this.#fd = probed.fd;
      if (probed.unix) this.#Handle = rawPipe()!;
    }
    this.#sync();
  }

  /** Slots free now; Infinity for `concurrency = 0`. */
  get free(): number {
    const { concurrency } = this.#options;
    return concurrency > 0
      ? concurrency - this.#inUse - this.#ready.length
      : Infinity;
  }

  /** True while this worker polls the socket. */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  accept(): Promise<AcceptedConn> {
    if (this.#closed) return Promise.reject(closedError());
    const raw = this.#ready.shift();
    if (raw) {
      const conn = this.#deliver(raw);
      this.#sync();
      return Promise.resolve(conn);
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#sync();
    });
  }

  /**
   * Takes a connection the master passed over (descriptor or handle). A
   * `force`d one is kept even without a free slot: it is one the master
   * accepted before a drain, which this worker serves rather than the
   * master drop it (served at the latest when the drain takes what is
   * pending).
   */
  adopt(connection: number | RawTcp, force = false): void {
    this.#adopted++;
    let raw: RawTcp;
    if (typeof connection === "number") {
      raw = new this.#Handle(SOCKET);
      if (raw.open(connection) !== 0) {
        this.#logger.warn(
          "could not adopt a handed-over connection (fd {fd})",
          {
            fd: connection,
          },
        );
        return;
      }
    } else {
      raw = connection;
    }
    if (this.#closed) {
      this.#giveBack(raw);
      return;
    }
    // Older than anything the kernel queue holds: first in line.
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(this.#deliver(raw));
    else if (this.free > 0 || force) this.#ready.unshift(raw);
    else this.#giveBack(raw);
    this.#sync();
  }

  /**
   * The master says whether it holds connections waiting for a worker:
   * while it does, take from the master rather than the kernel (FIFO).
   */
  setMasterQueue(waiting: boolean): void {
    this.#masterQueue = waiting;
    this.#sync();
  }

  /** Hands over every connection accepted and not yet served (at stop). */
  takePending(): AcceptedConn[] {
    return this.#ready.splice(0).map((raw) => this.#deliver(raw));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listener) {
      this.#listener.onconnection = null;
      this.#listener.close();
      this.#listener = undefined;
    }
    if (this.#fd >= 0) closeFd(this.#fd, SERVER);
    this.#fd = -1;
    // No room any more: the master must not pass anything over.
    this.#options.onSlots?.(0, this.#adopted);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closedError());
    // Accepted but never served: a sibling may still serve them.
    for (const raw of this.#ready.splice(0)) this.#giveBack(raw);
  }

  #giveBack(raw: RawTcp): void {
    if (!this.#options.handBack?.(raw)) raw.close();
  }

  #deliver(raw: RawTcp): AcceptedConn {
    this.#inUse++;
    const socket = new net.Socket(
      {
        handle: raw,
        readable: true,
        writable: true,
        // A client that half-closes still gets its answers (as with Deno.Conn).
        allowHalfOpen: true,
      } as net.SocketConstructorOpts,
    );
    const conn = nodeConn(socket);
    const unix = isPipe(raw);
    let done = false;
    return {
      peer: unix ? UNIX_PEER : conn.peer,
      local: unix ? UNIX_PEER : conn.local,
      source: unix ? UNIX_PEER : conn.source,
      read: (buffer) => conn.read(buffer),
      write: (bytes) => conn.write(bytes),
      close: () => {
        conn.close();
        if (done) return;
        done = true;
        this.#inUse--;
        this.#sync();
      },
    };
  }

  #onConnection(listener: RawTcp): void {
    // One poll may have taken several connections: take them all out of
    // the handle (what is left there dies with it), then decide.
    for (;;) {
      const raw = new this.#Handle(SOCKET);
      if (listener.accept(raw) !== 0) break;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(this.#deliver(raw));
      else if (this.free > 0) this.#ready.push(raw);
      else if (!this.#options.handBack?.(raw)) this.#ready.push(raw);
    }
    this.#sync();
  }

  /** Opens or closes the listening handle to match the free slots. */
  #sync(): void {
    const want = !this.#closed && this.free > 0 && !this.#masterQueue;
    if (want && !this.#listener && this.#fd >= 0) {
      const listener = new this.#Handle(SERVER);
      const opened = listener.open(this.#fd);
      if (opened === 0) {
        this.#fd = -1;
        listener.onconnection = () => this.#onConnection(listener);
        const status = listener.listen(BACKLOG);
        if (status === 0) this.#listener = listener;
        else {
          this.#logger.error("cannot accept on the shared socket ({status})", {
            status,
          });
          this.#fd = listener.fdForIpc();
          listener.close();
        }
      } else {
        this.#logger.error("cannot open the shared socket fd {fd} ({status})", {
          fd: this.#fd,
          status: opened,
        });
      }
    } else if (!want && this.#listener) {
      // Keep a descriptor for when a slot frees; without one (EMFILE) the
      // handle stays open and this worker stays greedy for a while.
      const spare = parkListener(this.#listener);
      if (spare !== undefined) {
        this.#listener = undefined;
        this.#fd = spare;
      }
    }
    const free = Math.min(this.free, UNLIMITED_SLOTS);
    if (free !== this.#reported && !this.#closed) {
      this.#reported = free;
      this.#options.onSlots?.(free, this.#adopted);
    }
  }
}
