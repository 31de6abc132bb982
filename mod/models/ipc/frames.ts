/**
 * Framing on a `process-per-connection` child's stdin: the master relays
 * the client's bytes as DATA frames and can still say "the client closed"
 * (EOF), "the daemon is draining" (DRAIN) and "reopen the log file"
 * (REOPEN) on the same pipe. A frame is
 * one type byte, a 32-bit big-endian length and the payload. The child's
 * stdout needs no framing: it is the reply stream, relayed as is.
 *
 * @module
 */

/** Frame types. */
export const FRAME = {
  /** JSON {@linkcode ConnInit}; always first. */
  init: 1,
  /** Client bytes. */
  data: 2,
  /** The client closed its sending side. */
  eof: 3,
  /** The daemon is draining: finish the exchange in flight, then close. */
  drain: 4,
  /** SIGUSR2 (`koan reopen`) reached the master: reopen the log file. */
  reopen: 5,
} as const;

/** A frame type. */
export type FrameType = typeof FRAME[keyof typeof FRAME];

/** One decoded frame. */
export interface Frame {
  type: FrameType;
  payload: Uint8Array;
}

const HEADER = 5;
/** Largest payload accepted; relayed chunks are at most 64 KiB. */
export const MAX_FRAME = 16 * 1024 * 1024;

/** Encodes a frame as one buffer (one copy of `payload`). */
export function encodeFrame(
  type: FrameType,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, HEADER);
  return out;
}

/** Something frames can be read from (`Deno.stdin`). */
export interface ByteReader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Reads frames from a byte stream.
 *
 * @example Usage
 * ```ts
 * import { encodeFrame, FRAME, FrameReader } from "./frames.ts";
 * const bytes = encodeFrame(FRAME.data, new Uint8Array([104, 105]));
 * let done = false;
 * const reader = new FrameReader({
 *   read(buffer) {
 *     if (done) return Promise.resolve(null);
 *     done = true;
 *     buffer.set(bytes);
 *     return Promise.resolve(bytes.length);
 *   },
 * });
 * const frame = await reader.next();
 * if (frame?.type !== FRAME.data || frame.payload.length !== 2) throw new Error("bad frame");
 * ```
 */
export class FrameReader {
  #source: ByteReader;
  #buffer = new Uint8Array(64 * 1024 + HEADER);
  #start = 0;
  #end = 0;

  constructor(source: ByteReader) {
    this.#source = source;
  }

  /**
   * Resolves to the next frame, or null at end of stream.
   *
   * @throws {RangeError} for an unknown type or an oversized frame.
   */
  async next(): Promise<Frame | null> {
    if (!await this.#fill(HEADER)) return null;
    const b = this.#buffer;
    const type = b[this.#start]!;
    const length = new DataView(b.buffer, b.byteOffset + this.#start + 1, 4)
      .getUint32(0);
    if (type < FRAME.init || type > FRAME.reopen) {
      throw new RangeError(`Unknown frame type ${type}`);
    }
    if (length > MAX_FRAME) {
      throw new RangeError(`Frame of ${length} bytes is too large`);
    }
    if (!await this.#fill(HEADER + length)) return null;
    const from = this.#start + HEADER;
    // Copy out: the buffer is reused by the next read.
    const payload = this.#buffer.slice(from, from + length);
    this.#start = from + length;
    return { type: type as FrameType, payload };
  }

  /** Ensures `count` bytes are buffered; false at end of stream. */
  async #fill(count: number): Promise<boolean> {
    while (this.#end - this.#start < count) {
      if (this.#start + count > this.#buffer.length) {
        // Compact, growing when one frame does not fit.
        const size = Math.max(this.#buffer.length, count);
        const next = new Uint8Array(size);
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = next;
      }
      const n = await this.#source.read(this.#buffer.subarray(this.#end));
      if (n === null) return false;
      this.#end += n;
    }
    return true;
  }
}
