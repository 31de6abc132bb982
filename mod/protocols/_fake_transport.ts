/**
 * An in-memory {@linkcode Transport} for protocol unit tests: scripted
 * chunks in, everything written collected, no sockets.
 *
 * @module
 */
import type { AccessRecord, ConnectionContext, Transport } from "./contract.ts";

/** Feeds `chunks` one per read (then end of stream), collects writes. */
export class FakeTransport implements Transport {
  #chunks: Uint8Array[];
  #waiting: ((n: number | null) => void) | undefined;
  #target: Uint8Array | undefined;
  /** Each write, in order. */
  writes: Uint8Array[] = [];
  closed = false;
  /** When false, reads after the script wait (an idle client) instead of ending. */
  endAfterScript: boolean;

  constructor(chunks: (string | Uint8Array)[], endAfterScript = true) {
    const encoder = new TextEncoder();
    this.#chunks = chunks.map((c) =>
      typeof c === "string" ? encoder.encode(c) : c
    );
    this.endAfterScript = endAfterScript;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.resolve(null);
    const next = this.#chunks.shift();
    if (next) {
      buffer.set(next.subarray(0, buffer.length));
      if (next.length > buffer.length) {
        this.#chunks.unshift(next.subarray(buffer.length));
      }
      return Promise.resolve(Math.min(next.length, buffer.length));
    }
    if (this.endAfterScript) return Promise.resolve(null);
    this.#target = buffer;
    return new Promise((resolve) => this.#waiting = resolve);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("closed"));
    this.writes.push(bytes.slice());
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#waiting?.(null);
    this.#waiting = undefined;
    this.#target = undefined;
  }

  /** Everything written, as text. */
  get text(): string {
    return this.writes.map((w) => new TextDecoder().decode(w)).join("");
  }
}

/** A context whose access records are collected in `records`. */
export function fakeContext(
  draining: AbortSignal = new AbortController().signal,
): ConnectionContext & { records: AccessRecord[] } {
  const records: AccessRecord[] = [];
  return {
    info: { peer: "127.0.0.1:5555", local: "127.0.0.1:1060" },
    draining,
    access: (record) => records.push(record),
    records,
  };
}
