/**
 * Response serialization into a reusable per-connection buffer. Constant
 * parts are bytes computed once (status lines, the {@linkcode Banner}
 * lines, content types, error pages); `Date` is rendered once per second
 * for the whole process. Responses to a pipelined batch accumulate in one
 * {@linkcode OutBuffer} and leave in one write (the TCP_CORK effect).
 *
 * @module
 */
import { VERSION } from "../../util/version.ts";
import { type HttpError, reasonOf } from "./status.ts";

const encoder = new TextEncoder();

/**
 * Growable output buffer; {@linkcode OutBuffer.view} is what to send. Bytes
 * from {@linkcode OutBuffer.putShared} are kept by reference while they are
 * all that is queued, so a lone constant response is sent straight from
 * its shared array, never copied into (nor brought into the cache with)
 * each connection's buffer.
 */
export class OutBuffer {
  /** Backing store; replaced when it grows. Holds the queue once {@linkcode OutBuffer.ensure} has run. */
  bytes: Uint8Array;
  /** Bytes queued. Setting it to 0 drops them. */
  length = 0;
  #initial: number;
  #view: Uint8Array | undefined;
  /** Bytes queued by reference (the first `length` of them), not yet copied. */
  #shared: Uint8Array | undefined;

  /** `initial` is the starting (and idle) capacity. */
  constructor(initial = 4096) {
    this.#initial = initial;
    this.bytes = new Uint8Array(initial);
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    if (this.#shared !== undefined) this.#copyShared();
    const need = this.length + extra;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.#view = undefined;
  }

  /** Appends bytes. */
  put(chunk: Uint8Array): void {
    this.ensure(chunk.length);
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  /**
   * Appends bytes that nobody changes until they are written: into an
   * empty buffer they are queued by reference, and copied only when
   * something else is appended.
   */
  putShared(chunk: Uint8Array): void {
    if (this.length > 0) {
      this.put(chunk);
      return;
    }
    this.#shared = chunk;
    this.length = chunk.length;
  }

  /** Copies the shared bytes still queued into the buffer. */
  #copyShared(): void {
    const shared = this.#shared!;
    this.#shared = undefined;
    const length = Math.min(this.length, shared.length);
    this.length = 0;
    if (length > 0) this.put(shared.subarray(0, length));
  }

  /** Appends a string of code points below 256 (header lines). */
  putAscii(text: string): void {
    this.ensure(text.length);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** Appends a non-negative integer in decimal without making a string. */
  putDecimal(value: number): void {
    if (value < 10) {
      this.ensure(1);
      this.bytes[this.length++] = 0x30 + value;
      return;
    }
    let digits = 0;
    for (let rest = value; rest >= 1; rest = Math.floor(rest / 10)) digits++;
    this.ensure(digits);
    let at = this.length + digits;
    this.length = at;
    for (let rest = value; rest >= 1; rest = Math.floor(rest / 10)) {
      this.bytes[--at] = 0x30 + (rest % 10);
    }
  }

  /** The queued bytes (a view, valid until the next change). */
  view(): Uint8Array {
    const shared = this.#shared;
    if (shared !== undefined) {
      if (shared.length === this.length) return shared;
      this.#copyShared(); // the queue was cut short meanwhile
    }
    // Same-sized batches (a benchmark, a poller) reuse the last view.
    const last = this.#view;
    if (last !== undefined && last.length === this.length) return last;
    return this.#view = this.bytes.subarray(0, this.length);
  }

  /** Empties the buffer, shrinking it back if a big response grew it. */
  clear(): void {
    this.length = 0;
    this.#shared = undefined;
    if (this.bytes.length > 16 * this.#initial) {
      this.bytes = new Uint8Array(this.#initial);
      this.#view = undefined;
    }
  }
}

const STATUS_LINES = new Map<number, Uint8Array>();

/** `HTTP/1.1 <status> <reason>\r\n` as bytes, cached. */
export function statusLine(status: number): Uint8Array {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = encoder.encode(`HTTP/1.1 ${status} ${reasonOf(status)}\r\n`);
    STATUS_LINES.set(status, line);
  }
  return line;
}

/** Monotonic time (ms) at which the cached Date line goes stale. */
let dateStaleAt = -Infinity;
let dateBytes: Uint8Array = new Uint8Array(0);
/** Bumped whenever the Date line changes, to invalidate prefixes built on it. */
let dateVersion = 0;

/**
 * `Date: <IMF-fixdate>\r\n` for now, rendered once a second. `mono` is a
 * `performance.now()` reading the caller already has: the wall clock is
 * read only when the monotonic clock says the second may have changed, so
 * the hot path pays one comparison.
 */
export function dateLine(mono: number = performance.now()): Uint8Array {
  if (mono < dateStaleAt) return dateBytes;
  const wall = Date.now();
  const next = `Date: ${new Date(wall).toUTCString()}\r\n`;
  dateStaleAt = mono + 1000 - (wall % 1000);
  if (dateBytes.length !== next.length || next !== lastDate) {
    lastDate = next;
    dateBytes = encoder.encode(next);
    dateVersion++;
  }
  return dateBytes;
}

let lastDate = "";

/** Arrays per constant reply and banner: one per {@linkcode tailIndex}. */
const TAILS = 6;

/**
 * The lines every response koan writes carries after its status line and
 * Date: `Server`, and `X-Content-Type-Options: nosniff` (no browser may
 * take koan's text for a script or a page). There are two, built once:
 * {@linkcode PLAIN_BANNER} (`Server: koan`, the default) and
 * {@linkcode VERSIONED_BANNER} (`Server: koan/<version>`, for `[http]
 * server_tokens`). A configuration generation picks one, so a reload that
 * flips `server_tokens` changes the answers made after it, constant
 * replies included: they keep their arrays per banner.
 */
export class Banner {
  /** Added to a {@linkcode tailIndex}: where a {@linkcode PresetResponses} keeps this banner's arrays. */
  readonly presetBase: number;
  /** The lines, as bytes. */
  readonly lines: Uint8Array;
  /** Per status: the prefix and the Date it was built with. */
  #prefixes: ({ bytes: Uint8Array; version: number } | undefined)[] = [];

  /** `server` is the Server header's value. */
  constructor(presetBase: number, server: string) {
    this.presetBase = presetBase;
    this.lines = encoder.encode(
      `Server: ${server}\r\nX-Content-Type-Options: nosniff\r\n`,
    );
  }

  /**
   * Status line, Date and this banner's lines as one byte array (one copy
   * per response instead of three), rebuilt when the Date line changes.
   * `mono`: see {@linkcode dateLine}.
   */
  prefix(status: number, mono?: number): Uint8Array {
    const date = dateLine(mono);
    const cached = this.#prefixes[status];
    if (cached !== undefined && cached.version === dateVersion) {
      return cached.bytes;
    }
    const line = statusLine(status);
    const lines = this.lines;
    const bytes = new Uint8Array(line.length + date.length + lines.length);
    bytes.set(line);
    bytes.set(date, line.length);
    bytes.set(lines, line.length + date.length);
    if (status >= 100 && status < 600) {
      this.#prefixes[status] = { bytes, version: dateVersion };
    }
    return bytes;
  }
}

/** `Server: koan`: the default. */
export const PLAIN_BANNER: Banner = new Banner(0, "koan");
/** `Server: koan/<version>`: with `[http] server_tokens = true`. */
export const VERSIONED_BANNER: Banner = new Banner(TAILS, `koan/${VERSION}`);
const BANNERS = [PLAIN_BANNER, VERSIONED_BANNER];

/**
 * The banner for `[http] server_tokens`.
 *
 * @example Usage
 * ```ts
 * import { bannerOf } from "./writer.ts";
 * const text = new TextDecoder().decode(bannerOf(false).lines);
 * if (!text.startsWith("Server: koan\r\n")) throw new Error(text);
 * ```
 */
export function bannerOf(serverTokens: boolean): Banner {
  return serverTokens ? VERSIONED_BANNER : PLAIN_BANNER;
}

/** The Content-Type line for `type`, as bytes, cached. */
const TYPE_LINES = new Map<string, Uint8Array>();

/** `Content-Type: <type>\r\n` as bytes, cached per type. */
export function contentTypeLine(type: string): Uint8Array {
  let line = TYPE_LINES.get(type);
  if (line === undefined) {
    line = encoder.encode(`Content-Type: ${type}\r\n`);
    if (TYPE_LINES.size < 256) TYPE_LINES.set(type, line);
  }
  return line;
}

/**
 * What the `Connection` header must say: nothing (HTTP/1.1 keeps the
 * connection by default), `close`, or `keep-alive` (an HTTP/1.0 client
 * asked for it).
 */
export type ConnectionHeader = "none" | "close" | "keep-alive";

const CLOSE_LINE = encoder.encode("Connection: close\r\n");
const KEEP_ALIVE_LINE = encoder.encode("Connection: keep-alive\r\n");
const CONTENT_LENGTH = encoder.encode("Content-Length: ");
const CRLF = encoder.encode("\r\n");

/** What goes into a response head besides the status. */
export interface HeadOptions {
  /** Content-Type and other constant lines, as bytes. */
  fixed?: Uint8Array | undefined;
  /** Dynamic header lines, each ending in CRLF (ASCII). */
  extra?: string | undefined;
  /** Content-Length to declare; negative: none (204, 304). */
  contentLength: number;
  /** The Connection header to send. */
  connection: ConnectionHeader;
  /** A recent `performance.now()`, for the Date line. */
  now?: number;
  /** The Server and nosniff lines. @default {PLAIN_BANNER} */
  banner?: Banner | undefined;
}

/**
 * Appends a response head: status line, Date, the banner's lines, then
 * the given lines, Content-Length, Connection and the blank line.
 *
 * @example Usage
 * ```ts
 * import { OutBuffer, writeHead } from "./writer.ts";
 * const out = new OutBuffer();
 * writeHead(out, 204, { contentLength: -1, connection: "none" });
 * const text = new TextDecoder().decode(out.view());
 * if (!text.startsWith("HTTP/1.1 204 No Content\r\n")) throw new Error(text);
 * ```
 */
export function writeHead(
  out: OutBuffer,
  status: number,
  options: HeadOptions,
): void {
  out.put((options.banner ?? PLAIN_BANNER).prefix(status, options.now));
  if (options.fixed !== undefined) out.put(options.fixed);
  if (options.extra !== undefined) out.putAscii(options.extra);
  if (options.contentLength >= 0) {
    out.put(CONTENT_LENGTH);
    out.putDecimal(options.contentLength);
    out.put(CRLF);
  }
  if (options.connection === "close") out.put(CLOSE_LINE);
  else if (options.connection === "keep-alive") out.put(KEEP_ALIVE_LINE);
  out.put(CRLF);
}

/**
 * Index into {@linkcode presetTails} for a Connection header and
 * HEAD-ness; plus a {@linkcode Banner.presetBase}, the index for
 * {@linkcode PresetResponses.get}.
 */
export function tailIndex(connection: ConnectionHeader, head: boolean): number {
  return (connection === "none" ? 0 : connection === "close" ? 2 : 4) +
    (head ? 1 : 0);
}

/**
 * Everything after the banner's lines of a constant response, precomputed
 * for each Connection header, with and without the body (HEAD): the hot
 * path then copies two arrays per response. Index with {@linkcode tailIndex}.
 */
export function presetTails(
  options: { fixed?: Uint8Array; extra?: string; body: Uint8Array },
): Uint8Array[] {
  const tails: Uint8Array[] = [];
  for (const connection of ["none", "close", "keep-alive"] as const) {
    for (const head of [false, true]) {
      const out = new OutBuffer(256);
      if (options.fixed !== undefined) out.put(options.fixed);
      if (options.extra !== undefined) out.putAscii(options.extra);
      out.put(CONTENT_LENGTH);
      out.putDecimal(options.body.length);
      out.put(CRLF);
      if (connection === "close") out.put(CLOSE_LINE);
      else if (connection === "keep-alive") out.put(KEEP_ALIVE_LINE);
      out.put(CRLF);
      if (!head) out.put(options.body);
      tails[tailIndex(connection, head)] = out.view().slice();
    }
  }
  return tails;
}

/**
 * The whole wire bytes of a constant reply, one array per banner and
 * {@linkcode tailIndex}: status line, Date and the banner's lines before
 * the preset tail, so that serving it is one copy. Rebuilt when the Date
 * line changes (once a second, and only for the arrays in use).
 *
 * @example Usage
 * ```ts
 * import {
 *   PLAIN_BANNER,
 *   PresetResponses,
 *   presetTails,
 *   tailIndex,
 * } from "./writer.ts";
 * const body = new TextEncoder().encode("ok");
 * const preset = new PresetResponses(200, presetTails({ body }));
 * const index = PLAIN_BANNER.presetBase + tailIndex("none", false);
 * const text = new TextDecoder().decode(preset.get(index));
 * if (!text.startsWith("HTTP/1.1 200 OK\r\nDate: ")) throw new Error(text);
 * if (!text.endsWith("\r\n\r\nok")) throw new Error(text);
 * ```
 */
export class PresetResponses {
  readonly #status: number;
  readonly #tails: readonly Uint8Array[];
  /** The Date line the arrays in #whole were built with. */
  #version = -1;
  #whole: (Uint8Array | undefined)[] = [];

  /** `tails` as {@linkcode presetTails} makes them. */
  constructor(status: number, tails: readonly Uint8Array[]) {
    this.#status = status;
    this.#tails = tails;
  }

  /**
   * The response for `index` (a {@linkcode Banner.presetBase} plus a
   * {@linkcode tailIndex}), its Date current as of `mono` (see
   * {@linkcode dateLine}).
   */
  get(index: number, mono?: number): Uint8Array {
    dateLine(mono);
    if (this.#version !== dateVersion) {
      this.#version = dateVersion;
      this.#whole = new Array(TAILS * BANNERS.length).fill(undefined);
    }
    let bytes = this.#whole[index];
    if (bytes === undefined) {
      const tailAt = index % TAILS;
      const banner = BANNERS[(index - tailAt) / TAILS]!;
      const prefix = banner.prefix(this.#status, mono);
      const tail = this.#tails[tailAt]!;
      bytes = new Uint8Array(prefix.length + tail.length);
      bytes.set(prefix);
      bytes.set(tail, prefix.length);
      this.#whole[index] = bytes;
    }
    return bytes;
  }
}

/** The text/plain type every built-in text answer uses. */
export const TEXT_PLAIN = "text/plain; charset=utf-8";
const TEXT_PLAIN_LINE = contentTypeLine(TEXT_PLAIN);

const ERROR_PAGES = new Map<number, Uint8Array>();

/**
 * The body of every error answer with `status`: `404 Not Found\n`. Fixed
 * text, never the error's detail: details name what the request held (a
 * path, a method, a header), and an error page that repeats the request
 * is a reflection an attacker can use. The detail goes to the access log.
 */
export function errorPage(status: number): Uint8Array {
  let page = ERROR_PAGES.get(status);
  if (page === undefined) {
    page = encoder.encode(`${status} ${reasonOf(status)}\n`);
    if (status >= 100 && status < 600) ERROR_PAGES.set(status, page);
  }
  return page;
}

/** Options for {@linkcode writeError}. */
export interface ErrorOptions {
  /** The request was HEAD: no body. @default {false} */
  head?: boolean;
  /** The Server and nosniff lines. @default {PLAIN_BANNER} */
  banner?: Banner;
}

/**
 * Appends the response for an {@linkcode HttpError}: the status, its
 * fixed page ({@linkcode errorPage}), and `Connection: close` (koan
 * closes after every error). This is the one place parse and limit errors
 * become bytes. Returns the bytes appended.
 *
 * @example Usage
 * ```ts
 * import { OutBuffer, writeError } from "./writer.ts";
 * import { HttpError } from "./status.ts";
 * const out = new OutBuffer();
 * writeError(out, new HttpError(404, 'No route for "/<script>"'));
 * const text = new TextDecoder().decode(out.view());
 * if (!text.endsWith("\r\n\r\n404 Not Found\n")) throw new Error(text);
 * ```
 */
export function writeError(
  out: OutBuffer,
  error: HttpError,
  options: ErrorOptions = {},
): number {
  const before = out.length;
  const body = errorPage(error.status);
  writeHead(out, error.status, {
    fixed: TEXT_PLAIN_LINE,
    extra: error.headers || undefined,
    contentLength: body.length,
    connection: "close",
    banner: options.banner,
  });
  if (!options.head) out.put(body);
  return out.length - before;
}

/**
 * A complete error response as fresh bytes (busy reply, header timeout).
 *
 * @example Usage
 * ```ts
 * import { errorBytes, VERSIONED_BANNER } from "./writer.ts";
 * import { HttpError } from "./status.ts";
 * const bytes = errorBytes(new HttpError(408, "slow"), VERSIONED_BANNER);
 * const text = new TextDecoder().decode(bytes);
 * if (!text.includes("\r\nServer: koan/")) throw new Error(text);
 * ```
 */
export function errorBytes(
  error: HttpError,
  banner: Banner = PLAIN_BANNER,
): Uint8Array {
  const out = new OutBuffer(256);
  writeError(out, error, { banner });
  return out.view().slice();
}
