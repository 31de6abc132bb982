/**
 * The HTTP/1.x request-head parser (RFC 9112), strict and incremental.
 *
 * Bytes arrive in pieces. {@linkcode RequestParser.scan} looks only at bytes
 * it has not seen before for the blank line that ends the head, enforcing
 * the size limits as it goes, so a client trickling one byte per read costs
 * O(n), not O(n²). Once the head is complete, {@linkcode RequestParser.parse}
 * validates it in a single pass with table lookups and builds an
 * {@linkcode HttpRequest}. Anything wrong throws {@linkcode HttpError} with
 * the status to answer.
 *
 * Strictness (each is a 400 unless noted): bare LF or bare CR line endings,
 * more than one space between request-line parts, obs-fold, whitespace
 * before a field's colon, invalid token or value bytes, a missing, repeated
 * or malformed Host on HTTP/1.1, Content-Length with anything but digits or
 * given twice, Content-Length together with Transfer-Encoding,
 * Transfer-Encoding on HTTP/1.0 or with chunked not last. Unknown methods
 * and transfer codings are 501, other versions 505 (so an HTTP/2
 * prior-knowledge preface, `PRI * HTTP/2.0`, is answered 505).
 *
 * List fields (Transfer-Encoding, Connection, Expect; Content-Length is
 * refused as a list) are split at commas and each element trimmed of OWS,
 * SP and HTAB, only (RFC 9110 §5.6.1): `chunked` wrapped in U+00A0 or
 * U+FEFF is an unknown coding (501), as it is to a peer that trims OWS
 * alone, never `chunked`.
 *
 * @module
 */
import {
  COLON,
  COMMA,
  CR,
  FIELD_VALUE,
  HOST_LITERAL,
  HOST_NAME,
  HTAB,
  isOws,
  latin1,
  LF,
  SP,
  TARGET,
  TCHAR,
} from "./chars.ts";
import type { AccessRecord } from "../contract.ts";
import { HeaderCapture } from "./access_headers.ts";
import { HttpRequest, type Method } from "./request.ts";
import { HttpError } from "./status.ts";

/** The limits the parser enforces (the `[http]` settings). */
export interface ParserLimits {
  /** Longest request line, CRLF excluded (414 past it). */
  maxRequestLine: number;
  /** Largest header block, field lines with their CRLFs (431 past it). */
  maxHeaderBytes: number;
  /** Most header fields (431 past it). */
  maxHeaders: number;
  /** Largest body (413 past it). */
  maxBody: number;
}

/** Blank lines tolerated before a request line (RFC 9112 §2.2 asks for at least one). */
const MAX_BLANK_LINES = 8;

const HOST = 1;
const CONTENT_LENGTH = 2;
const TRANSFER_ENCODING = 3;
const CONNECTION = 4;
const EXPECT = 5;
const ACCEPT = 6;
const IF_NONE_MATCH = 7;
const IF_MODIFIED_SINCE = 8;
const RANGE = 9;
const IF_RANGE = 10;

const encoder = new TextEncoder();
const NAMES: ReadonlyArray<readonly [number, Uint8Array]> = (
  [
    [HOST, "host"],
    [CONTENT_LENGTH, "content-length"],
    [TRANSFER_ENCODING, "transfer-encoding"],
    [CONNECTION, "connection"],
    [EXPECT, "expect"],
    [ACCEPT, "accept"],
    [IF_NONE_MATCH, "if-none-match"],
    [IF_MODIFIED_SINCE, "if-modified-since"],
    [RANGE, "range"],
    [IF_RANGE, "if-range"],
  ] as const
).map(([id, name]) => [id, encoder.encode(name)] as const);

/** Known field names by length, for a quick case-insensitive match. */
const BY_LENGTH: ReadonlyArray<ReadonlyArray<readonly [number, Uint8Array]>> =
  (() => {
    const out: (readonly [number, Uint8Array])[][] = [];
    for (const entry of NAMES) {
      (out[entry[1].length] ??= []).push(entry);
    }
    return out;
  })();

/** Which known field `buf[start, end)` names, or 0. Names are tchar-only here. */
function fieldId(buf: Uint8Array, start: number, end: number): number {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return 0;
  outer: for (const [id, name] of candidates) {
    for (let i = 0; i < name.length; i++) {
      // OR 0x20 lowercases letters and leaves "-" alone; tchar bytes that
      // could alias (controls) were rejected before we got here.
      if ((buf[start + i]! | 0x20) !== name[i]) continue outer;
    }
    return id;
  }
  return 0;
}

const METHODS: ReadonlyArray<Method> = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
];
const METHOD_BYTES = METHODS.map((m) => [m, encoder.encode(m)] as const);

/** The method `buf[start, end)` names (case-sensitive), or undefined. */
function methodOf(
  buf: Uint8Array,
  start: number,
  end: number,
): Method | undefined {
  // The hot path, without a loop.
  if (
    end - start === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 &&
    buf[start + 2] === 0x54
  ) return "GET";
  outer: for (const [method, bytes] of METHOD_BYTES) {
    if (bytes.length !== end - start) continue;
    for (let i = 0; i < bytes.length; i++) {
      if (buf[start + i] !== bytes[i]) continue outer;
    }
    return method;
  }
  return undefined;
}

/**
 * Splits a list field value into lowercase elements, each trimmed of OWS
 * (SP, HTAB) only, empty ones dropped (RFC 9110 §5.6.1).
 */
function listOf(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(",")) {
    let start = 0;
    let end = part.length;
    while (start < end && isOws(part.charCodeAt(start))) start++;
    while (end > start && isOws(part.charCodeAt(end - 1))) end--;
    if (end > start) out.push(part.slice(start, end).toLowerCase());
  }
  return out;
}

/** A list element for a message: bytes other than SP and VCHAR shown as "?". */
function printable(element: string): string {
  return element.replace(/[^\x20-\x7e]/g, "?");
}

/** Connection options koan acts on, as bits. */
const OPTION_CLOSE = 1;
const OPTION_KEEP_ALIVE = 2;
const CLOSE = encoder.encode("close");
const KEEP_ALIVE = encoder.encode("keep-alive");

/** Whether `buf[start, end)` is `name` (lowercase letters and "-"), in any case. */
function isNamed(
  buf: Uint8Array,
  start: number,
  end: number,
  name: Uint8Array,
): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    // OR 0x20 lowercases letters; only CR aliases "-", and a value has none.
    if ((buf[start + i]! | 0x20) !== name[i]) return false;
  }
  return true;
}

/**
 * The options of one Connection field line `buf[start, end)` koan acts on
 * (`close`, `keep-alive`), as bits: its elements split at commas and
 * trimmed of OWS only, without a string per request on the hot path.
 */
function connectionOptions(
  buf: Uint8Array,
  start: number,
  end: number,
): number {
  let options = 0;
  for (let i = start; i <= end; i++) { // i steps over each comma
    while (i < end && isOws(buf[i])) i++;
    const elementStart = i;
    while (i < end && buf[i] !== COMMA) i++;
    let elementEnd = i;
    while (elementEnd > elementStart && isOws(buf[elementEnd - 1])) {
      elementEnd--;
    }
    if (isNamed(buf, elementStart, elementEnd, CLOSE)) {
      options |= OPTION_CLOSE;
    } else if (isNamed(buf, elementStart, elementEnd, KEEP_ALIVE)) {
      options |= OPTION_KEEP_ALIVE;
    }
  }
  return options;
}

/** Validates a Host value (`uri-host [ ":" port ]`, RFC 9112 §3.2); empty is allowed. */
function checkHost(buf: Uint8Array, start: number, end: number): void {
  let i = start;
  if (i < end && buf[i] === 0x5b) { // "[" IP-literal "]"
    i++;
    while (i < end && buf[i] !== 0x5d) {
      if (!HOST_LITERAL[buf[i]!]) throw new HttpError(400, "Invalid Host");
      i++;
    }
    if (i === end || i === start + 1) throw new HttpError(400, "Invalid Host");
    i++;
  } else {
    while (i < end && buf[i] !== COLON) {
      if (!HOST_NAME[buf[i]!]) throw new HttpError(400, "Invalid Host");
      i++;
    }
  }
  if (i === end) return;
  if (buf[i] !== COLON) throw new HttpError(400, "Invalid Host");
  for (i++; i < end; i++) {
    const byte = buf[i]!;
    if (byte < 0x30 || byte > 0x39) throw new HttpError(400, "Invalid Host");
  }
}

/** Parses Content-Length: one run of digits, nothing else. */
function contentLengthOf(
  buf: Uint8Array,
  start: number,
  end: number,
  maxBody: number,
): number {
  if (start === end) throw new HttpError(400, "Invalid Content-Length");
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = buf[i]! - 0x30;
    if (digit < 0 || digit > 9) {
      throw new HttpError(400, "Invalid Content-Length");
    }
    value = value * 10 + digit;
    if (value > maxBody) throw new HttpError(413, "Body larger than max_body");
  }
  return value;
}

/** Longest target quoted in an error's access record. */
const MAX_LOGGED_TARGET = 256;

/**
 * Gives a refused request's access record a method and target when its
 * request line has them (`FOO / HTTP/1.1` → 501 is logged as `FOO /`).
 */
function nameRequest(
  error: HttpError,
  buf: Uint8Array,
  start: number,
  end: number,
): void {
  const line = latin1(buf, start, Math.min(end, start + MAX_LOGGED_TARGET));
  const [method, target] = line.split(" ");
  if (method && TOKEN.test(method)) error.method = method;
  if (target && error.method) {
    error.target = target.replace(/[^\x21-\x7e]/g, "?");
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Scans for and parses request heads; one per connection, reset per request. */
export class RequestParser {
  #limits: ParserLimits;
  /** Bytes of the current head already scanned (relative to its start). */
  #scanned = 0;
  /** Offset of the request line's LF (relative), or -1 while unseen. */
  #lineEnd = -1;
  /** Blank lines skipped before this request. */
  #blank = 0;
  /** Bytes of blank lines skipped before this request. */
  #skipped = 0;

  /** Captures the access log's request headers, when it prints any. */
  #capture: HeaderCapture | undefined;

  /**
   * `limits` are read once; a reload builds new parsers for new
   * connections. `captured` names the request headers to keep for the
   * access log (see {@linkcode RequestParser.captured}).
   */
  constructor(limits: ParserLimits, captured: readonly string[] = []) {
    this.#limits = limits;
    this.#capture = captured.length > 0
      ? new HeaderCapture(captured)
      : undefined;
  }

  /**
   * The headers named at construction that the last head
   * {@linkcode parse} accepted carried (the first value of each), or
   * undefined when it had none of them. Read once per head.
   */
  captured(): AccessRecord["headers"] {
    return this.#capture?.end();
  }

  /** True once any byte of the next request has been seen. */
  get begun(): boolean {
    return this.#scanned > 0 || this.#skipped > 0;
  }

  /**
   * Skips blank lines before a request line; returns the new start. Call
   * before {@linkcode scan} while nothing of the head has been scanned.
   *
   * @throws {HttpError} 400 after too many blank lines.
   */
  skipBlankLines(buf: Uint8Array, start: number, end: number): number {
    if (this.#scanned > 0) return start;
    while (end - start >= 2 && buf[start] === CR && buf[start + 1] === LF) {
      if (++this.#blank > MAX_BLANK_LINES) {
        throw new HttpError(400, "Too many blank lines before the request");
      }
      start += 2;
      this.#skipped += 2;
    }
    return start;
  }

  /**
   * Looks for the end of the head in `buf[start, end)`, resuming where the
   * last call stopped. Returns the head's length (through the blank line),
   * or -1 when more bytes are needed.
   *
   * @throws {HttpError} 400 on a bare LF, 414/431 as soon as a limit is passed.
   */
  scan(buf: Uint8Array, start: number, end: number): number {
    const { maxRequestLine, maxHeaderBytes } = this.#limits;
    // A lone CR may begin a blank line that skipBlankLines() will drop once
    // its LF arrives; scanning it now would make it part of the request line.
    if (this.#scanned === 0 && end - start === 1 && buf[start] === CR) {
      return -1;
    }
    let i = start + this.#scanned;
    // A plain loop: heads are short, and a native indexOf per line costs
    // more than the bytes it skips.
    for (; i < end; i++) {
      if (buf[i] !== LF) continue;
      // Limits first, so the answer never depends on where reads split the
      // bytes (the end-of-chunk checks below would have said 414/431 too).
      if (this.#lineEnd < 0) {
        if (i - start > maxRequestLine + 1) {
          throw new HttpError(414, "Request line longer than max_request_line");
        }
      } else if (i - start - this.#lineEnd - 1 > maxHeaderBytes + 2) {
        throw new HttpError(431, "Header block larger than max_header_bytes");
      }
      if (i === start || buf[i - 1] !== CR) {
        throw new HttpError(400, "Bare LF in the request head");
      }
      if (this.#lineEnd < 0) {
        this.#lineEnd = i - start;
        if (this.#lineEnd - 1 > maxRequestLine) {
          throw new HttpError(414, "Request line longer than max_request_line");
        }
      } else if (buf[i - 2] === LF) {
        // CR LF right after the previous line's LF: the blank line.
        this.#scanned = i + 1 - start;
        return this.#scanned;
      } else if (i - start - this.#lineEnd > maxHeaderBytes) {
        throw new HttpError(431, "Header block larger than max_header_bytes");
      }
    }
    this.#scanned = i - start;
    if (this.#lineEnd < 0) {
      if (this.#scanned > maxRequestLine + 1) {
        throw new HttpError(414, "Request line longer than max_request_line");
      }
    } else if (this.#scanned - this.#lineEnd - 1 > maxHeaderBytes + 2) {
      throw new HttpError(431, "Header block larger than max_header_bytes");
    }
    return -1;
  }

  /** Forgets the current head; call once it has been parsed (or abandoned). */
  reset(): void {
    this.#scanned = 0;
    this.#lineEnd = -1;
    this.#blank = 0;
    this.#skipped = 0;
  }

  /**
   * Parses the complete head `buf[start, start + length)` found by
   * {@linkcode scan}, then resets for the next request.
   *
   * @throws {HttpError} for anything RFC 9112 forbids or the limits refuse.
   */
  parse(buf: Uint8Array, start: number, length: number): HttpRequest {
    const request = new HttpRequest();
    request.headBytes = length + this.#skipped;
    const lineEnd = start + this.#lineEnd - 1; // the request line's CR
    this.reset();
    const headEnd = start + length - 2; // the blank line's CR
    try {
      this.#requestLine(request, buf, start, lineEnd);
      this.#fields(request, buf, lineEnd + 2, headEnd);
    } catch (error) {
      this.#capture?.reset();
      if (error instanceof HttpError) nameRequest(error, buf, start, lineEnd);
      throw error;
    }
    return request;
  }

  #requestLine(
    request: HttpRequest,
    buf: Uint8Array,
    start: number,
    end: number,
  ): void {
    // method SP request-target SP HTTP-version, single spaces only.
    let i = start;
    while (i < end && TCHAR[buf[i]!]) i++;
    if (i === start || i === end || buf[i] !== SP) {
      throw new HttpError(400, "Malformed request line");
    }
    const methodEnd = i;
    const targetStart = ++i;
    while (i < end && TARGET[buf[i]!]) i++;
    if (i === targetStart || i === end || buf[i] !== SP) {
      throw new HttpError(400, "Malformed request target");
    }
    const targetEnd = i++;
    // "HTTP/" DIGIT "." DIGIT, then the line ends.
    if (
      end - i !== 8 || buf[i] !== 0x48 || buf[i + 1] !== 0x54 ||
      buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 || buf[i + 4] !== 0x2f ||
      buf[i + 6] !== 0x2e
    ) throw new HttpError(400, "Malformed HTTP version");
    const major = buf[i + 5]! - 0x30;
    const minor = buf[i + 7]! - 0x30;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) {
      throw new HttpError(400, "Malformed HTTP version");
    }
    if (major !== 1 || minor > 1) {
      throw new HttpError(505, `HTTP/${major}.${minor} is not supported`);
    }
    request.minor = minor;
    request.keepAlive = minor === 1;

    const method = methodOf(buf, start, methodEnd);
    if (method === undefined) {
      throw new HttpError(
        501,
        `Method "${latin1(buf, start, methodEnd)}" is not implemented`,
      );
    }
    request.method = method;
    this.#target(request, buf, targetStart, targetEnd);
  }

  #target(
    request: HttpRequest,
    buf: Uint8Array,
    start: number,
    end: number,
  ): void {
    const first = buf[start];
    if (first === 0x2f) { // origin-form
      if (end - start === 1) return; // "/": the defaults already say so
      const target = latin1(buf, start, end);
      request.target = target;
      const mark = target.indexOf("?");
      if (mark < 0) {
        request.path = target;
      } else {
        request.path = target.slice(0, mark);
        request.query = target.slice(mark + 1);
      }
      return;
    }
    const target = latin1(buf, start, end);
    request.target = target;
    if (first === 0x2a && end - start === 1) { // asterisk-form
      if (request.method !== "OPTIONS") {
        throw new HttpError(400, 'Target "*" is only for OPTIONS');
      }
      request.path = "*";
      return;
    }
    if (request.method === "CONNECT") return; // authority-form; refused later
    // absolute-form (RFC 9112 §3.2.2): servers must accept it.
    const scheme = /^https?:\/\/[^/?]*/i.exec(target);
    if (!scheme) throw new HttpError(400, "Malformed request target");
    const rest = target.slice(scheme[0].length);
    const mark = rest.indexOf("?");
    const path = mark < 0 ? rest : rest.slice(0, mark);
    request.path = path === "" ? "/" : path;
    request.query = mark < 0 ? "" : rest.slice(mark + 1);
  }

  #fields(
    request: HttpRequest,
    buf: Uint8Array,
    start: number,
    end: number,
  ): void {
    const { maxHeaders, maxBody } = this.#limits;
    const capture = this.#capture;
    let hosts = 0;
    let contentLength = -1;
    let transferEncoding: string | undefined;
    let connection = 0;
    let fields = 0;
    let i = start;
    while (i < end) {
      if (++fields > maxHeaders) {
        throw new HttpError(431, "More header fields than max_headers");
      }
      const nameStart = i;
      while (TCHAR[buf[i]!]) i++;
      const nameEnd = i;
      if (buf[i] !== COLON) {
        const byte = buf[i];
        throw new HttpError(
          400,
          i === nameStart && (byte === SP || byte === HTAB)
            ? "Obsolete line folding"
            : byte === SP || byte === HTAB
            ? "Whitespace before a header field's colon"
            : "Invalid header field name",
        );
      }
      if (nameEnd === nameStart) {
        throw new HttpError(400, "Empty header field name");
      }
      i++;
      while (buf[i] === SP || buf[i] === HTAB) i++;
      const valueStart = i;
      while (FIELD_VALUE[buf[i]!]) i++;
      if (buf[i] !== CR || buf[i + 1] !== LF) {
        throw new HttpError(400, "Invalid header field value");
      }
      let valueEnd = i;
      while (
        valueEnd > valueStart &&
        (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)
      ) valueEnd--;
      i += 2;
      capture?.field(buf, nameStart, nameEnd, valueStart, valueEnd);

      switch (fieldId(buf, nameStart, nameEnd)) {
        case 0:
          break;
        case HOST:
          if (++hosts > 1) throw new HttpError(400, "More than one Host");
          checkHost(buf, valueStart, valueEnd);
          break;
        case CONTENT_LENGTH:
          if (contentLength >= 0) {
            throw new HttpError(400, "More than one Content-Length");
          }
          contentLength = contentLengthOf(buf, valueStart, valueEnd, maxBody);
          break;
        case TRANSFER_ENCODING: {
          const value = latin1(buf, valueStart, valueEnd);
          transferEncoding = transferEncoding === undefined
            ? value
            : `${transferEncoding}, ${value}`;
          break;
        }
        case CONNECTION:
          connection |= connectionOptions(buf, valueStart, valueEnd);
          break;
        case EXPECT: {
          const expectations = listOf(latin1(buf, valueStart, valueEnd));
          const other = expectations.find((e) => e !== "100-continue");
          if (other !== undefined || expectations.length === 0) {
            throw new HttpError(
              417,
              `Expectation "${printable(other ?? "")}" is not supported`,
            );
          }
          // HTTP/1.0 clients cannot mean it (RFC 9110 §10.1.1).
          request.expectContinue = request.minor === 1;
          break;
        }
        case ACCEPT:
          request.accept = latin1(buf, valueStart, valueEnd);
          break;
        case IF_NONE_MATCH:
          request.ifNoneMatch = latin1(buf, valueStart, valueEnd);
          break;
        case IF_MODIFIED_SINCE:
          request.ifModifiedSince = latin1(buf, valueStart, valueEnd);
          break;
        case RANGE:
          request.range = latin1(buf, valueStart, valueEnd);
          break;
        case IF_RANGE:
          request.ifRange = latin1(buf, valueStart, valueEnd);
          break;
      }
    }
    request.fields = fields;

    if (request.minor === 1 && hosts === 0) {
      throw new HttpError(400, "HTTP/1.1 request without Host");
    }
    if (connection & OPTION_CLOSE) request.keepAlive = false;
    else if (connection & OPTION_KEEP_ALIVE) request.keepAlive = true;
    if (transferEncoding !== undefined) {
      if (contentLength >= 0) {
        throw new HttpError(400, "Both Content-Length and Transfer-Encoding");
      }
      if (request.minor === 0) {
        throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
      }
      this.#transferEncoding(request, transferEncoding);
    }
    request.contentLength = contentLength;
  }

  #transferEncoding(request: HttpRequest, value: string): void {
    const codings = listOf(value);
    if (codings.length === 0) {
      throw new HttpError(400, "Empty Transfer-Encoding");
    }
    for (const coding of codings) {
      if (coding !== "chunked") {
        throw new HttpError(
          501,
          `Transfer-Encoding "${printable(coding)}" is not implemented`,
        );
      }
    }
    if (codings.length > 1) {
      throw new HttpError(400, "Chunked applied more than once");
    }
    request.chunked = true;
  }
}
