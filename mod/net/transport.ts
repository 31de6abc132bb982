/**
 * Adapts a `Deno.Conn` (or any reader/writer pair) to the protocol
 * {@linkcode Transport}: writes loop over short writes, and a write that
 * stalls past `send_timeout` (a client that stopped reading) closes the
 * connection instead of holding memory forever.
 *
 * @module
 */
import type { Transport } from "../protocols/contract.ts";
import { deadlines } from "../util/deadline.ts";

/** A write stalled past `send_timeout`; the connection is closed. */
export class SendTimeoutError extends Error {
  /** Creates the error. */
  constructor() {
    super("The peer stopped reading for longer than send_timeout");
    this.name = "SendTimeoutError";
  }
}

/** The parts of a `Deno.Conn` a transport needs. */
export interface Duplex {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

const STALL_CHECKS = 4;

/** A transport over a connection, with a send timeout. */
export class ConnTransport implements Transport {
  #conn: Duplex;
  #closed = false;
  #sendTimeoutMs: number;
  #sendDeadline;
  /** Writes started or progressed; the watchdog compares it between checks. */
  #writes = 0;
  #writing = false;
  #seenWrites = -1;
  #stalledChecks = 0;
  /** Set when the send timeout closed the connection. */
  sendTimedOut = false;

  /** `sendTimeoutMs` bounds each write's stall. */
  constructor(conn: Duplex, sendTimeoutMs: number) {
    this.#conn = conn;
    this.#sendTimeoutMs = sendTimeoutMs;
    this.#sendDeadline = deadlines.create(() => this.#check());
  }

  /**
   * The send watchdog: armed lazily at the first write and re-armed every
   * quarter of send_timeout, instead of a clock read per write (the hot
   * path). A write still pending and unchanged over four checks has been
   * stalled for between 1 and 1.25 times send_timeout.
   */
  #check(): void {
    if (this.#closed) return;
    if (this.#writing && this.#writes === this.#seenWrites) {
      if (++this.#stalledChecks >= STALL_CHECKS) {
        this.sendTimedOut = true;
        this.close();
        return;
      }
    } else {
      this.#stalledChecks = 0;
      this.#seenWrites = this.#writes;
    }
    this.#sendDeadline.arm(this.#sendTimeoutMs / STALL_CHECKS);
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    return this.#conn.read(buffer);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new Deno.errors.BrokenPipe("Connection is closed");
    // A peer that stops reading leaves the write pending forever; the
    // watchdog turns that into a closed connection after send_timeout.
    if (this.#writes === 0) this.#check();
    this.#writes++;
    this.#writing = true;
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await this.#conn.write(bytes.subarray(written));
        this.#writes++; // progress: a slow but moving peer is not stalled
      }
    } catch (error) {
      if (this.sendTimedOut) throw new SendTimeoutError();
      throw error;
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sendDeadline.dispose();
    try {
      this.#conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  /** True once closed by either side of the code. */
  get closed(): boolean {
    return this.#closed;
  }
}
