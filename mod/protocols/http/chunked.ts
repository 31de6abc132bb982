/**
 * The chunked transfer coding (RFC 9112 §7.1) as an incremental decoder:
 * feed it whatever bytes arrived, it hands out the data and says how much
 * it consumed. Chunk extensions are validated and ignored; trailer fields
 * are validated and discarded. Sizes are checked against `max_body` before
 * the data arrives.
 *
 * @module
 */
import { CR, FIELD_VALUE, hexValue, HTAB, LF, SP } from "./chars.ts";
import { HttpError } from "./status.ts";

/** Receives decoded body bytes; `buf[start, end)` is only valid during the call. */
export interface BodySink {
  data(buf: Uint8Array, start: number, end: number): void;
}

const SIZE = 0;
const EXTENSION = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_START = 6;
const TRAILER = 7;
const TRAILER_LF = 8;
const END_LF = 9;
const DONE = 10;

/** Longest chunk-size line (size plus extensions) accepted. */
const MAX_SIZE_LINE = 4096;

/** Decodes one chunked body. */
export class ChunkedDecoder {
  #state = SIZE;
  #digits = 0;
  #size = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  #total = 0;
  #maxBody: number;
  #maxTrailer: number;

  /** `maxBody` bounds the decoded size (413), `maxTrailer` the trailer bytes (431). */
  constructor(options: { maxBody: number; maxTrailer: number }) {
    this.#maxBody = options.maxBody;
    this.#maxTrailer = options.maxTrailer;
  }

  /** True once the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Decoded bytes so far. */
  get total(): number {
    return this.#total;
  }

  /**
   * Consumes bytes from `buf[start, end)`, passing data to `sink`; returns
   * how many were consumed (fewer than offered only once {@linkcode done}).
   *
   * @example Usage
   * ```ts
   * import { ChunkedDecoder } from "./chunked.ts";
   * const bytes = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n");
   * const decoder = new ChunkedDecoder({ maxBody: 100, maxTrailer: 100 });
   * let text = "";
   * decoder.push(bytes, 0, bytes.length, {
   *   data: (b, s, e) => text += new TextDecoder().decode(b.subarray(s, e)),
   * });
   * if (!decoder.done || text !== "abc") throw new Error("bad decode");
   * ```
   *
   * @throws {HttpError} 400 for malformed framing, 413 past `maxBody`, 431 for a huge trailer.
   */
  push(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    let i = start;
    while (i < end && this.#state !== DONE) {
      const byte = buf[i]!;
      switch (this.#state) {
        case SIZE: {
          const digit = hexValue(byte);
          if (digit >= 0) {
            if (++this.#digits > 12) {
              throw new HttpError(413, "Chunk larger than max_body");
            }
            this.#size = this.#size * 16 + digit;
            this.#lineBytes++;
            i++;
            break;
          }
          if (this.#digits === 0) {
            throw new HttpError(400, "Malformed chunk size");
          }
          if (this.#total + this.#size > this.#maxBody) {
            throw new HttpError(413, "Body larger than max_body");
          }
          if (byte === CR) this.#state = SIZE_LF;
          else if (byte === 0x3b || byte === SP || byte === HTAB) {
            this.#state = EXTENSION;
          } else throw new HttpError(400, "Malformed chunk size");
          i++;
          break;
        }
        case EXTENSION:
          if (byte === CR) this.#state = SIZE_LF;
          else if (!FIELD_VALUE[byte]) {
            throw new HttpError(400, "Malformed chunk extension");
          } else if (++this.#lineBytes > MAX_SIZE_LINE) {
            throw new HttpError(400, "Chunk extension too long");
          }
          i++;
          break;
        case SIZE_LF:
          if (byte !== LF) throw new HttpError(400, "Bare CR in chunk size");
          i++;
          this.#lineBytes = 0;
          this.#digits = 0;
          if (this.#size === 0) {
            this.#state = TRAILER_START;
          } else {
            this.#state = DATA;
          }
          break;
        case DATA: {
          const take = Math.min(this.#size, end - i);
          sink.data(buf, i, i + take);
          this.#size -= take;
          this.#total += take;
          i += take;
          if (this.#size === 0) this.#state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (byte !== CR) throw new HttpError(400, "Chunk data overruns size");
          this.#state = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (byte !== LF) throw new HttpError(400, "Bare CR after chunk data");
          this.#state = SIZE;
          i++;
          break;
        case TRAILER_START:
          if (byte === CR) {
            this.#state = END_LF;
          } else if (byte === SP || byte === HTAB) {
            throw new HttpError(400, "Obsolete line folding in trailer");
          } else {
            this.#state = TRAILER;
            continue; // the byte belongs to the field line
          }
          i++;
          break;
        case TRAILER:
          if (byte === CR) this.#state = TRAILER_LF;
          else if (!FIELD_VALUE[byte]) {
            throw new HttpError(400, "Invalid trailer field");
          }
          if (++this.#trailerBytes > this.#maxTrailer) {
            throw new HttpError(431, "Trailer larger than max_header_bytes");
          }
          i++;
          break;
        case TRAILER_LF:
          if (byte !== LF) throw new HttpError(400, "Bare CR in trailer");
          this.#state = TRAILER_START;
          i++;
          break;
        case END_LF:
          if (byte !== LF) throw new HttpError(400, "Bare CR ending the body");
          this.#state = DONE;
          i++;
          break;
      }
    }
    return i - start;
  }
}
