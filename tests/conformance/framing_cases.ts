/**
 * HTTP/1.1 message framing, one row per grammar rule of RFC 9112 (and the
 * list syntax of RFC 9110 §5.6.1): the raw request, what koan answers and
 * whether it then closes. A refused request must close the connection with
 * nothing after it read as a request, so every row is sent with
 * {@linkcode SECOND_REQUEST} pipelined in the same write. The rows run
 * against every model and, where it is installed, against nginx;
 * {@linkcode NGINX_DISAGREES} lists the rows where nginx answers otherwise,
 * each explained in docs/conformance.md.
 *
 * @module
 */

/** One framing rule. */
export interface FramingCase {
  /** The rule, as the test step is named. */
  name: string;
  /** Where the rule is written. */
  rfc: string;
  /** The raw bytes, one code unit per byte (write `\r\n` explicitly). */
  request: string;
  /** Status of koan's answer. */
  status: number;
  /** koan closes after answering, leaving {@linkcode SECOND_REQUEST} unanswered. */
  close: boolean;
}

/** Sent right after each row, in the same write; answered 200 when the connection lives. */
export const SECOND_REQUEST =
  "GET /healthz HTTP/1.1\r\nHost: koan.test\r\n\r\n";

const H = "Host: koan.test\r\n";
const CHUNKED = `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
const POST = `POST /zen HTTP/1.1\r\n${H}`;

/** A chunked request whose first chunk-size line is `line` (CRLF added). */
const sizeLine = (line: string) => `${CHUNKED}${line}\r\nhello\r\n0\r\n\r\n`;

/** A chunked request whose trailer section is `trailer` (blank line added). */
const trailer = (fields: string) =>
  `${CHUNKED}5\r\nhello\r\n0\r\n${fields}\r\n`;

/** A request with `field` (CRLF added) and a five-byte body. */
const withField = (field: string) =>
  `${POST}${field}\r\nContent-Length: 5\r\n\r\nhello`;

/** A chunked request with `field` as its Transfer-Encoding line. */
const withCoding = (value: string) =>
  `${POST}Transfer-Encoding: ${value}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;

const ok = (name: string, rfc: string, request: string): FramingCase => ({
  name,
  rfc,
  request,
  status: 200,
  close: false,
});

const refused = (
  name: string,
  rfc: string,
  request: string,
  status = 400,
): FramingCase => ({ name, rfc, request, status, close: true });

/** The rows. */
export const FRAMING_CASES: readonly FramingCase[] = [
  // What is accepted, so the refusals below are refusals of one thing.
  ok("a fixed-length body", "RFC 9112 §6.2", withField("X-A: b")),
  ok("a chunked body", "RFC 9112 §7.1", sizeLine("5")),
  ok(
    "OWS (SP, HTAB) and empty elements around chunked",
    "RFC 9110 §5.6.1",
    withCoding(",\t chunked \t, "),
  ),
  ok(
    "a chunk extension with a token value",
    "RFC 9112 §7.1.1",
    sizeLine("5;a=b"),
  ),
  ok(
    "chunk extensions with BWS around ; and =",
    "RFC 9112 §7.1.1",
    sizeLine("5 ; a = b\t;\tc"),
  ),
  ok(
    "a quoted chunk extension value with a quoted-pair",
    "RFC 9112 §7.1.1, RFC 9110 §5.6.4",
    sizeLine('5;a="b\\"; c"'),
  ),
  ok(
    "an extension on the last chunk and a trailer field",
    "RFC 9112 §7.1.2",
    `${CHUNKED}5\r\nhello\r\n0;a=b\r\nX-T: v\r\n\r\n`,
  ),
  ok(
    "Connection: close wrapped in U+00A0 is not close",
    "RFC 9110 §5.6.1, §7.6.1",
    withField("Connection: \xa0close\xa0"),
  ),

  // The head.
  refused(
    "a bare LF ending a field line",
    "RFC 9112 §2.2",
    `${POST}X-A: b\n\r\n`,
  ),
  refused(
    "obs-fold",
    "RFC 9112 §5.2",
    `${POST}X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n`,
  ),
  refused(
    "whitespace between a field name and its colon",
    "RFC 9112 §5.1",
    `${POST}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
  ),

  // Content-Length.
  refused(
    "Content-Length twice with one value",
    "RFC 9110 §8.6",
    `${POST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  ),
  refused(
    "Content-Length twice with two values",
    "RFC 9112 §6.3",
    `${POST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ),
  refused(
    "Content-Length as a list",
    "RFC 9110 §8.6",
    withField("Content-Length: 5, 5"),
  ),
  refused(
    "Content-Length with a sign",
    "RFC 9110 §8.6",
    `${POST}Content-Length: +5\r\n\r\nhello`,
  ),
  refused(
    "Content-Length wrapped in U+00A0",
    "RFC 9110 §5.6.1, §8.6",
    `${POST}Content-Length: \xa05\xa0\r\n\r\nhello`,
  ),
  refused(
    "Content-Length and Transfer-Encoding together",
    "RFC 9112 §6.1, §6.3",
    `${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ),

  // Transfer-Encoding.
  refused(
    "chunked not the final coding",
    "RFC 9112 §6.3",
    withCoding("chunked, gzip"),
    501,
  ),
  refused(
    "an unknown coding before chunked",
    "RFC 9112 §6.1",
    withCoding("gzip, chunked"),
    501,
  ),
  refused(
    "chunked applied twice",
    "RFC 9112 §6.1",
    withCoding("chunked, chunked"),
  ),
  refused(
    "Transfer-Encoding in an HTTP/1.0 request",
    "RFC 9112 §6.1",
    `POST /zen HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  ),
  refused(
    "chunked preceded by U+00A0 is an unknown coding",
    "RFC 9110 §5.6.1",
    withCoding("\xa0chunked"),
    501,
  ),
  refused(
    "chunked followed by U+00A0 is an unknown coding",
    "RFC 9110 §5.6.1",
    withCoding("chunked\xa0"),
    501,
  ),
  refused(
    "chunked after a list element wrapped in U+00A0",
    "RFC 9110 §5.6.1",
    withCoding("\xa0, chunked"),
    501,
  ),
  refused(
    "chunked preceded by U+FEFF (UTF-8) is an unknown coding",
    "RFC 9110 §5.6.1",
    withCoding("\xef\xbb\xbfchunked"),
    501,
  ),
  refused(
    "chunked preceded by a vertical tab",
    "RFC 9110 §5.5",
    withCoding("\x0bchunked"),
  ),
  refused(
    "chunked with a parameter",
    "RFC 9112 §7",
    withCoding("chunked;q=1"),
    501,
  ),

  // Expect.
  refused(
    "Expect: 100-continue wrapped in U+00A0",
    "RFC 9110 §5.6.1, §10.1.1",
    withField("Expect: \xa0100-continue"),
    417,
  ),

  // The chunk-size line.
  refused("a chunk size that is not hex", "RFC 9112 §7.1", sizeLine("z")),
  refused("a chunk size with a 0x prefix", "RFC 9112 §7.1", sizeLine("0x5")),
  refused("whitespace before the chunk size", "RFC 9112 §7.1", sizeLine(" 5")),
  refused(
    "a byte after the chunk size without ;",
    "RFC 9112 §7.1",
    sizeLine("5x"),
  ),
  refused(
    "words after the chunk size and a space, without ;",
    "RFC 9112 §7.1",
    sizeLine("5 junk"),
  ),
  refused(
    "a space after the chunk size and no extension",
    "RFC 9112 §7.1.1",
    sizeLine("5 "),
  ),
  refused(
    "a tab after the chunk size and no extension",
    "RFC 9112 §7.1.1",
    sizeLine("5\t"),
  ),
  refused("U+00A0 after the chunk size", "RFC 9112 §7.1", sizeLine("5\xa0")),
  refused("a ; with no extension name", "RFC 9112 §7.1.1", sizeLine("5;")),
  refused(
    "a ; with only whitespace after it",
    "RFC 9112 §7.1.1",
    sizeLine("5; "),
  ),
  refused("an = with no extension name", "RFC 9112 §7.1.1", sizeLine("5;=b")),
  refused("an = with no extension value", "RFC 9112 §7.1.1", sizeLine("5;a=")),
  refused(
    "an extension name that is not a token",
    "RFC 9112 §7.1.1",
    sizeLine("5;a@b"),
  ),
  refused(
    "an extension name starting with U+00A0",
    "RFC 9112 §7.1.1",
    sizeLine("5;\xa0a"),
  ),
  refused(
    "an extension value that is not a token",
    "RFC 9112 §7.1.1",
    sizeLine("5;a=b@c"),
  ),
  refused(
    "whitespace ending the chunk-size line after an extension",
    "RFC 9112 §7.1.1",
    sizeLine("5;a=b "),
  ),
  refused(
    "a quoted extension value that never closes",
    "RFC 9112 §7.1.1, RFC 9110 §5.6.4",
    // A reader that lets the quote run past CRLF ends the body elsewhere.
    `${CHUNKED}5;a="b\r\nhello\r\n0\r\n\r\n"\r\n0\r\n\r\n`,
  ),
  refused(
    "bytes after a quoted extension value",
    "RFC 9112 §7.1.1",
    sizeLine('5;a="b"c'),
  ),
  refused(
    "a chunk-size line longer than 4096 bytes",
    "RFC 9112 §7.1.1",
    sizeLine(`5;a=${"b".repeat(5000)}`),
  ),
  refused(
    "a bare LF after the chunk size",
    "RFC 9112 §7.1",
    `${CHUNKED}5\nhello\r\n0\r\n\r\n`,
  ),
  refused(
    "chunk data longer than its size",
    "RFC 9112 §7.1",
    `${CHUNKED}3\r\nhello\r\n0\r\n\r\n`,
  ),
  refused(
    "a chunk size too large for any body",
    "RFC 9112 §7.1",
    sizeLine("fffffffffffffffffff"),
    413,
  ),

  // The last chunk and the trailer section.
  refused(
    "a ; with no name on the last chunk",
    "RFC 9112 §7.1",
    `${CHUNKED}5\r\nhello\r\n0;\r\n\r\n`,
  ),
  refused(
    "a space after the last chunk's size",
    "RFC 9112 §7.1",
    `${CHUNKED}5\r\nhello\r\n0 \r\n\r\n`,
  ),
  refused(
    "a trailer line without a colon",
    "RFC 9112 §7.1.2",
    trailer("X-T\r\n"),
  ),
  refused(
    "whitespace before a trailer field's colon",
    "RFC 9112 §7.1.2, §5.1",
    trailer("X-T : v\r\n"),
  ),
  refused(
    "a trailer field name starting with U+00A0",
    "RFC 9112 §7.1.2",
    trailer("\xa0X: v\r\n"),
  ),
  refused(
    "obs-fold in the trailer",
    "RFC 9112 §5.2",
    trailer("X-T: v\r\n w\r\n"),
  ),
  refused(
    "a request line where a trailer field belongs",
    "RFC 9112 §7.1.2",
    trailer("GET /smuggled HTTP/1.1\r\n"),
  ),
];

/**
 * The rows where nginx (Debian's 1.22) answers otherwise: it accepts what
 * koan refuses, or refuses but still reads the next request. Each is
 * explained in docs/conformance.md; the framing test fails when this list
 * and nginx's answers drift apart.
 */
export const NGINX_DISAGREES: readonly string[] = [
  // nginx takes exactly "chunked" and nothing else as Transfer-Encoding.
  "OWS (SP, HTAB) and empty elements around chunked",
  // nginx looks for "close" anywhere in the value.
  "Connection: close wrapped in U+00A0 is not close",
  // nginx takes a bare LF as a line ending.
  "a bare LF ending a field line",
  // nginx ignores an expectation it does not know.
  "Expect: 100-continue wrapped in U+00A0",
  // nginx skips everything after the size (and the whole trailer section)
  // up to the line's end, without a limit, and takes a bare LF.
  "words after the chunk size and a space, without ;",
  "a space after the chunk size and no extension",
  "a tab after the chunk size and no extension",
  "a ; with no extension name",
  "a ; with only whitespace after it",
  "an = with no extension name",
  "an = with no extension value",
  "an extension name that is not a token",
  "an extension name starting with U+00A0",
  "an extension value that is not a token",
  "whitespace ending the chunk-size line after an extension",
  "a quoted extension value that never closes",
  "bytes after a quoted extension value",
  "a chunk-size line longer than 4096 bytes",
  "a bare LF after the chunk size",
  "a ; with no name on the last chunk",
  "a space after the last chunk's size",
  "a trailer line without a colon",
  "whitespace before a trailer field's colon",
  "a trailer field name starting with U+00A0",
  "obs-fold in the trailer",
  "a request line where a trailer field belongs",
];
