/**
 * Static files from `http.docroot` through a {@linkcode FileSource}:
 * index.html for directories, MIME types from the `mime` package's table,
 * ETag / If-None-Match and Last-Modified / If-Modified-Since → 304, one
 * byte range → 206 (416 when unsatisfiable; several ranges get the whole
 * file), bodies streamed by the connection rather than loaded whole.
 *
 * Path safety happens here, before the FileSource sees anything: the path
 * is percent-decoded exactly once (so `%252e%252e` names a file called
 * `%2e%2e`, it never becomes `..`); encoded `/`, `\` and NUL, raw
 * backslashes, control characters and `..` segments are refused with 400;
 * names starting with `.` (except `.well-known`) are hidden (404). The
 * FileSource then refuses anything whose real path leaves the root.
 *
 * A directory asked for without its final `/` is redirected to it, and
 * the `Location` is rebuilt from the checked names, never copied from the
 * request: one leading `/` (so `//example.com` cannot become a link to
 * another host), each name and the query percent-encoded (so nothing in
 * it can end the header or leave the URI).
 *
 * @module
 */
import mime from "mime";
import type { FileEntry, FileSource } from "./file_source.ts";
import type { Reply } from "./reply.ts";
import type { HttpRequest } from "./request.ts";
import { HttpError } from "./status.ts";
import { contentTypeLine } from "./writer.ts";
import { hexValue } from "./chars.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Bytes a path segment may hold unencoded (RFC 3986 `pchar` less `%` and `'`). */
const SEGMENT_SAFE = new Uint8Array(256);
for (const char of "-._~!$&()*+,;=:@") SEGMENT_SAFE[char.charCodeAt(0)] = 1;
for (let byte = 0x30; byte <= 0x39; byte++) SEGMENT_SAFE[byte] = 1;
for (let byte = 0x41; byte <= 0x5a; byte++) {
  SEGMENT_SAFE[byte] = SEGMENT_SAFE[byte + 0x20] = 1;
}
/** Bytes a query may hold unencoded: a segment's, `/` and `?`. */
const QUERY_SAFE = SEGMENT_SAFE.slice();
QUERY_SAFE[0x2f] = QUERY_SAFE[0x3f] = 1;

const HEX = "0123456789ABCDEF";

/**
 * `text` as UTF-8, percent-encoding every byte not `safe`; with `escapes`,
 * a `%` that already starts an escape is kept (the query arrives encoded).
 */
function percentEncode(
  text: string,
  options: { safe: Uint8Array; escapes: boolean },
): string {
  const bytes = encoder.encode(text);
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (
      options.safe[byte] === 1 ||
      (options.escapes && byte === 0x25 &&
        hexValue(bytes[i + 1] ?? 0) >= 0 && hexValue(bytes[i + 2] ?? 0) >= 0)
    ) {
      out += String.fromCharCode(byte);
    } else {
      out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
    }
  }
  return out;
}

const SEGMENT = { safe: SEGMENT_SAFE, escapes: false };
const QUERY = { safe: QUERY_SAFE, escapes: true };

/**
 * Where to redirect a directory asked for without its final `/`: its
 * checked names under one `/`, percent-encoded, and the query
 * re-encoded. It cannot name another host (`//host`, `/\host`) nor hold
 * a byte that ends a header.
 *
 * @example Usage
 * ```ts
 * import { directoryLocation, safePath } from "./static.ts";
 * const location = directoryLocation(safePath("//example.com"), 'a="<>');
 * if (location !== "/example.com/?a=%22%3C%3E") throw new Error(location);
 * ```
 */
export function directoryLocation(path: SafePath, query: string): string {
  let location = "/";
  for (const name of path.segments) {
    location += `${percentEncode(name, SEGMENT)}/`;
  }
  return query === "" ? location : `${location}?${percentEncode(query, QUERY)}`;
}

/** A request path, decoded and checked. */
export interface SafePath {
  /** Names from the root down; never `""`, `.`, `..`, or containing `/`. */
  segments: string[];
  /** The path ended in `/`. */
  directory: boolean;
}

function decodeSegment(raw: string): string {
  if (raw.indexOf("%") < 0) {
    for (let i = 0; i < raw.length; i++) {
      const code = raw.charCodeAt(i);
      if (code < 0x20 || code === 0x7f) {
        throw new HttpError(400, "Control character in the path");
      }
    }
    return raw;
  }
  const bytes = new Uint8Array(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    let byte = raw.charCodeAt(i);
    if (byte === 0x25) { // "%"
      const high = hexValue(raw.charCodeAt(i + 1));
      const low = hexValue(raw.charCodeAt(i + 2));
      if (high < 0 || low < 0) {
        throw new HttpError(400, "Malformed percent-encoding in the path");
      }
      byte = high * 16 + low;
      i += 2;
      if (byte === 0x2f || byte === 0x5c) {
        throw new HttpError(400, "Encoded slash in the path");
      }
    }
    if (byte < 0x20 || byte === 0x7f) {
      throw new HttpError(400, "Control character in the path");
    }
    bytes[length++] = byte;
  }
  const decoded = bytes.subarray(0, length);
  try {
    return utf8.decode(decoded);
  } catch (error) {
    // A fatal TextDecoder throws TypeError ("The encoded data is not valid").
    if (!(error instanceof TypeError)) throw error;
    throw new HttpError(400, "Path is not valid UTF-8");
  }
}

/**
 * Decodes and checks a request path for use under the root.
 *
 * @example Usage
 * ```ts
 * import { safePath } from "./static.ts";
 * const { segments } = safePath("/docs/a%20b.txt");
 * if (segments.join("|") !== "docs|a b.txt") throw new Error("bad decode");
 * ```
 *
 * @throws {HttpError} 400 for traversal or malformed encoding, 404 for hidden names.
 */
export function safePath(path: string): SafePath {
  if (path.charCodeAt(0) !== 0x2f) {
    throw new HttpError(400, "Path must start with /");
  }
  if (path.indexOf("\\") >= 0) {
    throw new HttpError(400, "Backslash in the path");
  }
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    if (raw === "") continue;
    const name = decodeSegment(raw);
    if (name === ".") continue;
    if (name === "..") throw new HttpError(400, "Dot-dot segment in the path");
    if (name.charCodeAt(0) === 0x2e && name !== ".well-known") {
      throw new HttpError(404, "Hidden files are not served");
    }
    segments.push(name);
  }
  return { segments, directory: path.endsWith("/") };
}

/** A strong validator from size and modification time (nginx's recipe). */
export function etagOf(entry: FileEntry): string | undefined {
  if (entry.mtimeMs === null) return undefined;
  return `"${Math.floor(entry.mtimeMs).toString(16)}-${
    entry.size.toString(16)
  }"`;
}

/** Whether an If-None-Match value matches `etag` (weak comparison). */
export function noneMatch(header: string, etag: string): boolean {
  const opaque = etag.startsWith("W/") ? etag.slice(2) : etag;
  for (const part of header.split(",")) {
    const tag = part.trim();
    if (tag === "*") return true;
    if ((tag.startsWith("W/") ? tag.slice(2) : tag) === opaque) return true;
  }
  return false;
}

/** A satisfiable byte range, inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

const DIGITS = /^\d+$/;

/**
 * Interprets a Range header against a file of `size` bytes: a range,
 * `"unsatisfiable"` (416), or undefined to send the whole file (no
 * header, a syntax the server may ignore, or several ranges).
 *
 * @example Usage
 * ```ts
 * import { rangeOf } from "./static.ts";
 * const range = rangeOf("bytes=-3", 10);
 * if (typeof range !== "object" || range.start !== 7) throw new Error("bad range");
 * ```
 */
export function rangeOf(
  header: string | undefined,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const eq = header.indexOf("=");
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== "bytes") {
    return undefined;
  }
  const spec = header.slice(eq + 1).trim();
  if (spec.indexOf(",") >= 0) return undefined;
  const dash = spec.indexOf("-");
  if (dash < 0) return undefined;
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  if (first === "") {
    if (!DIGITS.test(last)) return undefined;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  if (!DIGITS.test(first) || (last !== "" && !DIGITS.test(last))) {
    return undefined;
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined; // invalid: ignore
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

function typeOf(name: string): string {
  const type = mime.getType(name) ?? "application/octet-stream";
  return type.startsWith("text/") || type === "application/json"
    ? `${type}; charset=utf-8`
    : type;
}

function notModified(
  request: HttpRequest,
  etag: string | undefined,
  modified: number | null,
): boolean {
  if (request.ifNoneMatch !== undefined) {
    return etag !== undefined && noneMatch(request.ifNoneMatch, etag);
  }
  if (request.ifModifiedSince !== undefined && modified !== null) {
    const since = Date.parse(request.ifModifiedSince);
    return !Number.isNaN(since) && Math.floor(modified / 1000) * 1000 <= since;
  }
  return false;
}

/** Whether If-Range (if any) still allows a partial answer. */
function rangeStillValid(
  request: HttpRequest,
  etag: string | undefined,
  lastModified: string | undefined,
): boolean {
  const condition = request.ifRange;
  if (condition === undefined) return true;
  if (condition.startsWith('"') || condition.startsWith("W/")) {
    return etag !== undefined && condition === etag; // strong comparison
  }
  return lastModified !== undefined && condition === lastModified;
}

async function find(
  files: FileSource,
  path: SafePath,
): Promise<{ entry: FileEntry; name: string } | "redirect"> {
  const entry = await files.lookup(path.segments);
  if (entry === null) throw new HttpError(404, "No such file");
  if (entry.kind === "file") {
    if (path.directory) throw new HttpError(404, "No such directory");
    return { entry, name: path.segments.at(-1) ?? "" };
  }
  if (!path.directory) return "redirect";
  const index = await files.lookup([...path.segments, "index.html"]);
  if (index === null || index.kind !== "file") {
    throw new HttpError(404, "No index.html in the directory");
  }
  return { entry: index, name: "index.html" };
}

/**
 * Answers GET or HEAD for a file under the root.
 *
 * @throws {HttpError} 400 for unsafe paths, 404 when absent, 416 for an unsatisfiable range.
 */
export async function serveStatic(
  request: HttpRequest,
  files: FileSource,
): Promise<Reply> {
  const path = safePath(request.path);
  const found = await find(files, path);
  if (found === "redirect") {
    return {
      status: 301,
      extra: `Location: ${directoryLocation(path, request.query)}\r\n`,
      body: new Uint8Array(0),
    };
  }
  const { entry, name } = found;
  const etag = etagOf(entry);
  const lastModified = entry.mtimeMs === null
    ? undefined
    : new Date(entry.mtimeMs).toUTCString();
  let validators = "";
  if (etag !== undefined) validators += `ETag: ${etag}\r\n`;
  if (lastModified !== undefined) {
    validators += `Last-Modified: ${lastModified}\r\n`;
  }
  if (notModified(request, etag, entry.mtimeMs)) {
    return { status: 304, extra: validators };
  }
  const fixed = contentTypeLine(typeOf(name));
  const extra = `${validators}Accept-Ranges: bytes\r\n`;
  const range = request.method === "GET" &&
      rangeStillValid(request, etag, lastModified)
    ? rangeOf(request.range, entry.size)
    : undefined;
  if (range === "unsatisfiable") {
    throw new HttpError(
      416,
      "Range not satisfiable",
      `Content-Range: bytes */${entry.size}\r\n`,
    );
  }
  if (range === undefined) {
    return {
      status: 200,
      fixed,
      extra,
      file: { entry, start: 0, length: entry.size },
    };
  }
  return {
    status: 206,
    fixed,
    extra:
      `${extra}Content-Range: bytes ${range.start}-${range.end}/${entry.size}\r\n`,
    file: { entry, start: range.start, length: range.end - range.start + 1 },
  };
}
