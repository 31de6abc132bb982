/**
 * The receiving half of a relayed connection, in the worker that runs the
 * handler (thread- or process-per-connection): the accepting side pushes
 * the client's bytes as they arrive, and the handler reads them here.
 *
 * Draining keeps the in-isolate meaning: bytes the accepting side had
 * already received when the daemon began draining are in flight, so the
 * drain is signalled only after the handler has taken all of them.
 *
 * Flow control is the pusher's: the thread variant counts chunks consumed
 * (`onConsumed`), the process variant waits for {@linkcode PushedInput.room}
 * before it reads the next frame, so a client that sends faster than the
 * handler takes its bytes (a pipeliner that never reads its answers) waits
 * in the kernel's buffers, never in this queue.
 *
 * @module
 */

/** Queued client bytes with end-of-stream and drain ordering. */
export class PushedInput {
  #queue: Uint8Array[] = [];
  /** Bytes in #queue. */
  #size = 0;
  #ended = false;
  #closed = false;
  #drainPending = false;
  #draining: AbortController;
  #onConsumed: () => void;
  #wake: (() => void) | undefined;
  #roomWake: (() => void) | undefined;

  /**
   * `draining` is aborted once a drain is due; `onConsumed` is called each
   * time the handler has taken a whole pushed chunk (flow-control credit).
   */
  constructor(draining: AbortController, onConsumed: () => void = () => {}) {
    this.#draining = draining;
    this.#onConsumed = onConsumed;
  }

  /** Adds received bytes; once closed, drops them (nobody will read them). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#closed) {
      this.#onConsumed();
      return;
    }
    this.#queue.push(chunk);
    this.#size += chunk.length;
    this.#settle();
  }

  /** Bytes pushed and not yet read. */
  get queued(): number {
    return this.#size;
  }

  /**
   * Resolves once fewer than `limit` bytes are queued, or the input is
   * closed: the pusher's cue to take more from its source.
   */
  async room(limit: number): Promise<void> {
    while (this.#size >= limit && !this.#closed) {
      await new Promise<void>((resolve) => this.#roomWake = resolve);
    }
  }

  #wakePusher(): void {
    this.#roomWake?.();
    this.#roomWake = undefined;
  }

  /** The client closed its sending side. */
  end(): void {
    this.#ended = true;
    this.#settle();
  }

  /** The daemon is draining: signal it once queued bytes are taken. */
  drain(): void {
    this.#drainPending = true;
    this.#settle();
  }

  #settle(): void {
    this.#wake?.();
    this.#wake = undefined;
    if (this.#drainPending && this.#queue.length === 0) {
      this.#drainPending = false;
      // Run after the handler's continuation for the last bytes, so it is
      // busy answering (not idle) when it learns of the drain.
      setTimeout(() => this.#draining.abort(), 0);
    }
  }

  /** Reads queued bytes into `buffer`; null at end of stream or once closed. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const head = this.#queue[0]!;
    const n = Math.min(head.length, buffer.length);
    buffer.set(head.subarray(0, n));
    this.#size -= n;
    this.#wakePusher();
    if (n === head.length) {
      this.#queue.shift();
      this.#onConsumed();
    } else {
      this.#queue[0] = head.subarray(n);
    }
    this.#settle();
    return n;
  }

  /** Stops reading: a pending read resolves null. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#size = 0;
    this.#wake?.();
    this.#wake = undefined;
    this.#wakePusher();
  }
}
