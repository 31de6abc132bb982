/**
 * An in-memory {@linkcode Transport} for unit tests: reads hand out queued
 * chunks (then wait, or end), writes are recorded one by one so tests can
 * see how responses were batched.
 *
 * @module
 */
import type { Transport } from "../contract.ts";

/** Options for {@linkcode MemoryTransport}. */
export interface MemoryOptions {
  /** After the queued chunks, wait for more instead of ending. @default {false} */
  holdOpen?: boolean;
}

/** A scripted peer. */
export class MemoryTransport implements Transport {
  #chunks: Uint8Array[];
  #holdOpen: boolean;
  #ended = false;
  #closed = false;
  #waiting: ((n: number | null) => void) | undefined;
  #waitingBuffer: Uint8Array | undefined;
  /** Every write, in order. */
  readonly writes: Uint8Array[] = [];

  /** `chunks` are what successive reads return. */
  constructor(chunks: Uint8Array[], options: MemoryOptions = {}) {
    this.#chunks = [...chunks];
    this.#holdOpen = options.holdOpen ?? false;
  }

  #take(buffer: Uint8Array): number {
    const chunk = this.#chunks[0]!;
    const n = Math.min(chunk.length, buffer.length);
    buffer.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    if (this.#chunks.length > 0) return Promise.resolve(this.#take(buffer));
    if (this.#ended || !this.#holdOpen) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#waitingBuffer = buffer;
    });
  }

  /** Queues more input, waking a waiting read. */
  push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    const wake = this.#waiting;
    if (wake) {
      this.#waiting = undefined;
      wake(this.#take(this.#waitingBuffer!));
    }
  }

  /** Ends the input: reads return null once the queue is empty. */
  end(): void {
    this.#ended = true;
    if (this.#chunks.length === 0) this.#wakeNull();
  }

  #wakeNull(): void {
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.(null);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Transport is closed"));
    this.writes.push(bytes.slice());
    return Promise.resolve();
  }

  close(): void {
    this.#closed = true;
    this.#wakeNull();
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a read is waiting for input. */
  get reading(): boolean {
    return this.#waiting !== undefined;
  }

  /** Everything written, as latin1 text. */
  get text(): string {
    let text = "";
    for (const write of this.writes) {
      for (const byte of write) text += String.fromCharCode(byte);
    }
    return text;
  }
}
