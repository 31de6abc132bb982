/**
 * Adapts a `Deno.Conn` (or any reader/writer pair) to the protocol
 * {@linkcode Transport}: writes loop over short writes, and a write that
 * stalls past `send_timeout` (a client that stopped reading) closes the
 * connection instead of holding memory forever. A connection that is not
 * writing has no timer of any kind.
 *
 * @module
 */
import type { Transport } from "../protocols/contract.ts";
import { Deadline, deadlines } from "../util/deadline.ts";

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

/**
 * A transport over a connection, with a send timeout. It is its own send
 * watchdog (a {@linkcode Deadline} on the shared wheel, no object or
 * closure of its own): armed when a write starts and re-armed every
 * quarter of send_timeout while writes go on, instead of a clock read per
 * write (the hot path). A write still pending and unchanged over four
 * checks has been stalled for between 1 and 1.25 times send_timeout. The
 * watchdog leaves the wheel at the first check that finds no write
 * pending, so an idle connection costs the sweep nothing.
 */
export class ConnTransport extends Deadline implements Transport {
  #conn: Duplex;
  #closed = false;
  #periodMs: number;
  /** Writes started or progressed; compared between checks. */
  #progress = 0;
  #writing = false;
  #seen = -1;
  #stalled = 0;
  #timedOut = false;
  /** The bytes of the one write in flight that #written completes. */
  #inFlight: Uint8Array | undefined = undefined;

  /** `sendTimeoutMs` bounds each write's stall. */
  constructor(conn: Duplex, sendTimeoutMs: number) {
    super(deadlines);
    this.#conn = conn;
    this.#periodMs = sendTimeoutMs / STALL_CHECKS;
  }

  /** True once the send timeout closed the connection. */
  get sendTimedOut(): boolean {
    return this.#timedOut;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    return this.#conn.read(buffer);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BrokenPipe("Connection is closed"));
    }
    // A peer that stops reading leaves the write pending forever; the
    // watchdog turns that into a closed connection after send_timeout.
    this.#progress++;
    this.#writing = true;
    if (!this.tracked) {
      this.#seen = this.#progress;
      this.#stalled = 0;
      this.arm(this.#periodMs);
    }
    let pending: Promise<number>;
    try {
      pending = this.#conn.write(bytes);
    } catch (error) {
      // A duplex that throws instead of rejecting: still a rejection here.
      return Promise.reject(this.#failure(error));
    }
    // One write is all a reply usually takes: no async frame per write,
    // and no closure either while it is the only write in flight (its
    // callbacks are made at the first write, once per connection, and find
    // the bytes in #inFlight).
    if (this.#inFlight === undefined) {
      this.#inFlight = bytes;
      return pending.then(
        this.#written ??= (written) => this.#wrote(written),
        this.#failed ??= (error) => this.#fail(error),
      );
    }
    return pending.then(
      (written) =>
        written < bytes.length ? this.#writeRest(bytes, written) : this.#done(),
      (error) => {
        throw this.#failure(error);
      },
    );
  }

  #written: ((written: number) => Promise<void> | undefined) | undefined;
  #failed: ((error: unknown) => never) | undefined;

  /** The write in #inFlight took `written` bytes. */
  #wrote(written: number): Promise<void> | undefined {
    const bytes = this.#inFlight!;
    this.#inFlight = undefined;
    return written < bytes.length
      ? this.#writeRest(bytes, written)
      : this.#done();
  }

  /** The write in #inFlight failed. */
  #fail(error: unknown): never {
    this.#inFlight = undefined;
    throw this.#failure(error);
  }

  #done(): undefined {
    this.#writing = false;
    return undefined;
  }

  /** Writes the rest of a short write, progress by progress. */
  async #writeRest(bytes: Uint8Array, written: number): Promise<void> {
    try {
      while (written < bytes.length) {
        this.#progress++; // a slow but moving peer is not stalled
        written += await this.#conn.write(bytes.subarray(written));
      }
    } catch (error) {
      throw this.#failure(error);
    } finally {
      this.#writing = false;
    }
  }

  /** What a failed write rejects with. */
  #failure(error: unknown): unknown {
    this.#writing = false;
    return this.#timedOut ? new SendTimeoutError() : error;
  }

  /** The watchdog's check; see the class comment. */
  protected override expire(): void {
    if (!this.#writing) {
      this.dispose();
      return;
    }
    if (this.#progress === this.#seen) {
      if (++this.#stalled >= STALL_CHECKS) {
        this.#timedOut = true;
        this.close();
        return;
      }
    } else {
      this.#stalled = 0;
      this.#seen = this.#progress;
    }
    this.arm(this.#periodMs);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dispose();
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
