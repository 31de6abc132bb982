/**
 * The chunked transfer coding (RFC 9112 §7.1) as an incremental decoder:
 * feed it whatever bytes arrived, it hands out the data and says how much
 * it consumed. Sizes are checked against `max_body` before the data
 * arrives.
 *
 * Every line is held to its grammar byte by byte, because a peer that
 * reads a line more loosely ends the body somewhere else (request
 * smuggling): `chunk-size [ chunk-ext ] CRLF` with
 * `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, a token
 * for a name, a token or a complete quoted-string for a value, and nothing
 * else on the line, not even trailing whitespace; the same for the last
 * chunk; then trailer field lines (`field-name ":" OWS field-value OWS`)
 * up to the blank line. Extensions are then ignored and trailer fields
 * discarded. Anything else is a 400.
 *
 * @module
 */
import {
  BACKSLASH,
  COLON,
  CR,
  DQUOTE,
  EQUALS,
  FIELD_VALUE,
  hexValue,
  isOws,
  LF,
  QDTEXT,
  SEMICOLON,
  TCHAR,
} from "./chars.ts";
import { HttpError } from "./status.ts";

/** Receives decoded body bytes; `buf[start, end)` is only valid during the call. */
export interface BodySink {
  data(buf: Uint8Array, start: number, end: number): void;
}

const SIZE = 0;
const SIZE_LF = 1;
const DATA = 2;
const DATA_CR = 3;
const DATA_LF = 4;
const TRAILER_START = 5;
const TRAILER_NAME = 6;
const TRAILER_VALUE = 7;
const TRAILER_LF = 8;
const END_LF = 9;
const DONE = 10;
// The chunk-ext states, from EXT_BWS up; see #extension().
/** BWS after the size or a whole extension: only more BWS or ";" may follow. */
const EXT_BWS = 11;
/** After ";": BWS, then a name. */
const EXT_NAME_BWS = 12;
const EXT_NAME = 13;
/** BWS after a name: "=" or ";" must follow. */
const EXT_NAME_END = 14;
/** After "=": BWS, then a token or a quoted-string. */
const EXT_VALUE_BWS = 15;
const EXT_TOKEN = 16;
const EXT_QUOTED = 17;
/** After a `\` inside a quoted-string. */
const EXT_QUOTED_PAIR = 18;
/** After the closing `"`: CR, BWS or ";". */
const EXT_QUOTED_END = 19;

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
          else if (byte === SEMICOLON) this.#state = EXT_NAME_BWS;
          else if (isOws(byte)) this.#state = EXT_BWS;
          else throw new HttpError(400, "Malformed chunk size");
          i++;
          break;
        }
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
            i++;
            break;
          }
          if (isOws(byte)) {
            throw new HttpError(400, "Obsolete line folding in trailer");
          }
          if (!TCHAR[byte]) throw new HttpError(400, "Invalid trailer field");
          this.#state = TRAILER_NAME;
          continue; // the byte begins the field name
        case TRAILER_NAME:
          if (byte === COLON) this.#state = TRAILER_VALUE;
          else if (!TCHAR[byte]) {
            throw new HttpError(
              400,
              isOws(byte)
                ? "Whitespace before a trailer field's colon"
                : "Invalid trailer field",
            );
          }
          this.#countTrailer();
          i++;
          break;
        case TRAILER_VALUE:
          if (byte === CR) this.#state = TRAILER_LF;
          else if (!FIELD_VALUE[byte]) {
            throw new HttpError(400, "Invalid trailer field");
          }
          this.#countTrailer();
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
        default: // a chunk-ext state
          if (++this.#lineBytes > MAX_SIZE_LINE) {
            throw new HttpError(400, "Chunk extension too long");
          }
          this.#state = this.#extension(this.#state, byte);
          i++;
      }
    }
    return i - start;
  }

  #countTrailer(): void {
    if (++this.#trailerBytes > this.#maxTrailer) {
      throw new HttpError(431, "Trailer larger than max_header_bytes");
    }
  }

  /**
   * The state after `byte` in chunk-ext state `state` (RFC 9112 §7.1.1,
   * quoted-string from RFC 9110 §5.6.4); a byte the grammar has no place
   * for throws.
   */
  #extension(state: number, byte: number): number {
    switch (state) {
      case EXT_BWS:
        if (isOws(byte)) return EXT_BWS;
        if (byte === SEMICOLON) return EXT_NAME_BWS;
        break;
      case EXT_NAME_BWS:
        if (isOws(byte)) return EXT_NAME_BWS;
        if (TCHAR[byte]) return EXT_NAME;
        break;
      case EXT_NAME:
        if (TCHAR[byte]) return EXT_NAME;
        if (byte === CR) return SIZE_LF;
        if (byte === EQUALS) return EXT_VALUE_BWS;
        if (byte === SEMICOLON) return EXT_NAME_BWS;
        if (isOws(byte)) return EXT_NAME_END;
        break;
      case EXT_NAME_END:
        if (isOws(byte)) return EXT_NAME_END;
        if (byte === EQUALS) return EXT_VALUE_BWS;
        if (byte === SEMICOLON) return EXT_NAME_BWS;
        break;
      case EXT_VALUE_BWS:
        if (isOws(byte)) return EXT_VALUE_BWS;
        if (TCHAR[byte]) return EXT_TOKEN;
        if (byte === DQUOTE) return EXT_QUOTED;
        break;
      case EXT_TOKEN:
        if (TCHAR[byte]) return EXT_TOKEN;
        if (byte === CR) return SIZE_LF;
        if (byte === SEMICOLON) return EXT_NAME_BWS;
        if (isOws(byte)) return EXT_BWS;
        break;
      case EXT_QUOTED:
        if (QDTEXT[byte]) return EXT_QUOTED;
        if (byte === DQUOTE) return EXT_QUOTED_END;
        if (byte === BACKSLASH) return EXT_QUOTED_PAIR;
        if (byte === CR) {
          throw new HttpError(400, "Unterminated quoted chunk extension");
        }
        break;
      case EXT_QUOTED_PAIR:
        if (FIELD_VALUE[byte]) return EXT_QUOTED;
        break;
      case EXT_QUOTED_END:
        if (byte === CR) return SIZE_LF;
        if (byte === SEMICOLON) return EXT_NAME_BWS;
        if (isOws(byte)) return EXT_BWS;
        break;
    }
    throw new HttpError(400, "Malformed chunk extension");
  }
}
