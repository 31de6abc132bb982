/**
 * One listening socket, accepted from by several acceptors in turn. A
 * reload that restarts a listener in this isolate (another model, other
 * limits) hands the *same* socket to the new acceptor before the old one
 * drains: the kernel's accept queue is never closed, so no client that
 * connected during the switch is reset. (Binding a second SO_REUSEPORT
 * socket and closing the first resets whatever sat in the first one's
 * queue unless `net.ipv4.tcp_migrate_req` is on — measured: about two
 * resets per switch under load.)
 *
 * Each user holds a lease: an {@linkcode AcceptSource} whose `close()`
 * only gives the lease back (and whose `takePending()` hands the last
 * user what the socket accepted and nobody took, before it closes). At most one `accept()` is outstanding on the
 * real socket; a connection it yields goes to the oldest waiting lease, or
 * waits for the next `accept()` of any lease if its taker left meanwhile.
 *
 * @module
 */
import type { AcceptedConn, AcceptSource } from "./acceptor.ts";

interface Waiter {
  lease: object;
  resolve: (conn: AcceptedConn) => void;
  reject: (error: unknown) => void;
}

function closedError(): Error {
  return new Deno.errors.BadResource("Listener has been closed");
}

/** Options for {@linkcode SharedSource}. */
export interface SharedSourceOptions {
  /**
   * Keep the socket open when the last lease is returned (an inherited
   * socket cannot be bound again). @default {false}
   */
  keepOpen?: boolean;
  /** Called once the socket is closed. */
  onClose?: () => void;
}

/** A listening socket shared by leases. */
export class SharedSource {
  #raw: AcceptSource;
  #options: SharedSourceOptions;
  #leases = 0;
  #waiters: Waiter[] = [];
  #ready: AcceptedConn[] = [];
  #pumping = false;
  #closed = false;

  /** Wraps `raw`; the shared source owns it from now on. */
  constructor(raw: AcceptSource, options: SharedSourceOptions = {}) {
    this.#raw = raw;
    this.#options = options;
  }

  /** Leases held now. */
  get leases(): number {
    return this.#leases;
  }

  /** True once the socket is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A new lease. Its `close()` returns the lease; the socket closes when
   * the last lease is returned, unless `keepOpen`.
   */
  lease(): AcceptSource {
    if (this.#closed) throw closedError();
    this.#leases++;
    const token = {};
    let returned = false;
    return {
      accept: () => {
        if (returned || this.#closed) return Promise.reject(closedError());
        const conn = this.#ready.shift();
        if (conn) return Promise.resolve(conn);
        return new Promise<AcceptedConn>((resolve, reject) => {
          this.#waiters.push({ lease: token, resolve, reject });
          this.#pump();
        });
      },
      // The last lease going (a stop, not a hand-over to a successor):
      // clients accepted but not yet taken are this acceptor's to serve,
      // since the socket closes with it and no one else would.
      takePending: () => {
        if (
          returned || this.#closed || this.#leases > 1 ||
          this.#options.keepOpen
        ) return [];
        return [...this.#ready.splice(0), ...(this.#raw.takePending?.() ?? [])];
      },
      close: () => {
        if (returned) return;
        returned = true;
        this.#leases--;
        if (this.#leases === 0 && !this.#options.keepOpen) {
          // The last user: close the socket, and let an accept already in
          // flight finish to its waiter (see close()).
          this.close();
          return;
        }
        // Others go on accepting: whatever is in flight goes to them.
        this.#waiters = this.#waiters.filter((waiter) => {
          if (waiter.lease !== token) return true;
          waiter.reject(closedError());
          return false;
        });
      },
    };
  }

  #pump(): void {
    if (this.#pumping || this.#closed || this.#waiters.length === 0) return;
    this.#pumping = true;
    this.#raw.accept().then((conn) => {
      this.#pumping = false;
      // Even after close(): the kernel had accepted this client, so the
      // acceptor that asked serves it rather than dropping it.
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(conn);
      else if (this.#closed) conn.close();
      else this.#ready.push(conn);
      if (this.#closed) this.#rejectAll();
      else this.#pump();
    }, (error) => {
      this.#pumping = false;
      if (this.#closed) {
        this.#rejectAll();
        return;
      }
      // EMFILE and friends: the first waiter's acceptor backs off and asks
      // again; the connection stays in the kernel's queue meanwhile.
      this.#waiters.shift()?.reject(error);
      this.#pump();
    });
  }

  #rejectAll(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closedError());
  }

  /**
   * Closes the socket now; `accept()` rejects from here on. An accept in
   * flight settles first: a client the kernel handed over in that instant
   * still goes to the acceptor that asked for it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close();
    for (const conn of this.#ready.splice(0)) conn.close();
    if (!this.#pumping) this.#rejectAll();
    this.#options.onClose?.();
  }
}
