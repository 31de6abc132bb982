/**
 * Requests koan must refuse, each with its status. Every error response
 * closes the connection.
 *
 * @module
 */
import type { Case } from "./cases.ts";

const H = "Host: koan.test\r\n";

function bad(
  name: string,
  request: string,
  status: number,
  stage: Case["stage"] = "parser",
): Case {
  return { name, request, status, close: true, stage };
}

const tooManyHeaders = Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`)
  .join("");

/** The refused vectors. */
export const INVALID: Case[] = [
  // Line endings and framing of the head.
  bad("bare LF line endings", "GET / HTTP/1.1\nHost: koan.test\n\n", 400),
  bad("bare LF after the headers", `GET / HTTP/1.1\r\n${H}\n`, 400),
  bad("bare CR inside a value", `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400),
  bad(
    "obs-fold continuation line",
    `GET / HTTP/1.1\r\n${H}X-A: a\r\n  b\r\n\r\n`,
    400,
  ),
  bad(
    "whitespace between the request line and the first field",
    `GET / HTTP/1.1\r\n ${H}\r\n`,
    400,
  ),
  bad(
    "too many blank lines first",
    `${"\r\n".repeat(9)}GET / HTTP/1.1\r\n${H}\r\n`,
    400,
  ),

  // Request line.
  bad("two spaces after the method", `GET  / HTTP/1.1\r\n${H}\r\n`, 400),
  bad("space inside the target", `GET /a b HTTP/1.1\r\n${H}\r\n`, 400),
  bad("tab inside the target", `GET /a\tb HTTP/1.1\r\n${H}\r\n`, 400),
  bad("fragment in the target", `GET /#top HTTP/1.1\r\n${H}\r\n`, 400),
  bad("non-ASCII byte in the target", `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, 400),
  bad("trailing space after the version", `GET / HTTP/1.1 \r\n${H}\r\n`, 400),
  bad("HTTP/0.9 style request", "GET /\r\n\r\n", 400),
  bad("lowercase protocol name", `GET / http/1.1\r\n${H}\r\n`, 400),
  bad("two-digit minor version", `GET / HTTP/1.10\r\n${H}\r\n`, 400),
  bad("version without minor", `GET / HTTP/1\r\n${H}\r\n`, 400),
  bad("invalid byte in the method", `G@T / HTTP/1.1\r\n${H}\r\n`, 400),
  bad("asterisk target with GET", `GET * HTTP/1.1\r\n${H}\r\n`, 400),
  bad(
    "authority-form target with GET",
    `GET koan.test:80 HTTP/1.1\r\n${H}\r\n`,
    400,
  ),
  bad("unknown method", `FOO / HTTP/1.1\r\n${H}\r\n`, 501),
  bad("methods are case-sensitive", `get / HTTP/1.1\r\n${H}\r\n`, 501),
  bad("HTTP/2.0", `GET / HTTP/2.0\r\n${H}\r\n`, 505),
  bad("HTTP/1.2", `GET / HTTP/1.2\r\n${H}\r\n`, 505),
  bad("HTTP/0.9 with a version", `GET / HTTP/0.9\r\n${H}\r\n`, 505),
  bad(
    "HTTP/2 prior-knowledge preface",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    505,
  ),
  bad(
    "request line over max_request_line",
    `GET /${"a".repeat(9000)} HTTP/1.1\r\n${H}\r\n`,
    414,
  ),
  bad(
    "request line over the limit with no end in sight",
    `GET /${"a".repeat(9000)}`,
    414,
  ),

  // Header fields.
  bad(
    "whitespace before the colon",
    "GET / HTTP/1.1\r\nHost : koan.test\r\n\r\n",
    400,
  ),
  bad(
    "tab before the colon",
    "GET / HTTP/1.1\r\nHost\t: koan.test\r\n\r\n",
    400,
  ),
  bad(
    "invalid byte in a field name",
    `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`,
    400,
  ),
  bad("empty field name", `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`, 400),
  bad("field line without a colon", `GET / HTTP/1.1\r\n${H}X-A\r\n\r\n`, 400),
  bad("NUL in a value", `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400),
  bad("DEL in a value", `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400),
  bad(
    "escape character in a value",
    `GET / HTTP/1.1\r\n${H}X-A: \x1b[0m\r\n\r\n`,
    400,
  ),
  bad(
    "field over max_header_bytes",
    `GET / HTTP/1.1\r\n${H}X-Big: ${"b".repeat(17000)}\r\n\r\n`,
    431,
  ),
  bad(
    "header block over the limit with no end in sight",
    `GET / HTTP/1.1\r\n${H}X-Big: ${"b".repeat(17000)}`,
    431,
  ),
  bad(
    "more than max_headers fields",
    `GET / HTTP/1.1\r\n${H}${tooManyHeaders}\r\n`,
    431,
  ),

  // Host.
  bad("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
  bad("two Host fields", `GET / HTTP/1.1\r\n${H}${H}\r\n`, 400),
  bad("two Host fields on HTTP/1.0", `GET / HTTP/1.0\r\n${H}${H}\r\n`, 400),
  bad("Host with a space", "GET / HTTP/1.1\r\nHost: koan test\r\n\r\n", 400),
  bad("Host with a slash", "GET / HTTP/1.1\r\nHost: koan.test/x\r\n\r\n", 400),
  bad(
    "Host with userinfo",
    "GET / HTTP/1.1\r\nHost: user@koan.test\r\n\r\n",
    400,
  ),
  bad(
    "Host with a letter in the port",
    "GET / HTTP/1.1\r\nHost: koan.test:8o\r\n\r\n",
    400,
  ),
  bad("unterminated IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),

  // Message framing.
  bad(
    "Content-Length and Transfer-Encoding together",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
  ),
  bad(
    "Content-Length twice, same value",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    400,
  ),
  bad(
    "Content-Length as a list",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`,
    400,
  ),
  bad(
    "negative Content-Length",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
    400,
  ),
  bad(
    "Content-Length with a plus sign",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`,
    400,
  ),
  bad(
    "Content-Length in hex",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`,
    400,
  ),
  bad(
    "Content-Length with a space inside",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\nhelloworld`,
    400,
  ),
  bad(
    "empty Content-Length",
    `POST /zen HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`,
    400,
  ),
  bad(
    "Content-Length over max_body",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 1048577\r\n\r\n`,
    413,
  ),
  bad(
    "Content-Length too large for any integer",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`,
    413,
  ),
  bad(
    "unknown transfer coding",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`,
    501,
  ),
  bad(
    "a coding before chunked that koan lacks",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    501,
  ),
  bad(
    "chunked twice",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
    400,
  ),
  bad(
    "empty Transfer-Encoding",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`,
    400,
  ),
  bad(
    "Transfer-Encoding on HTTP/1.0",
    "POST /zen HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ),
  bad(
    "unknown expectation",
    `POST /zen HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 0\r\n\r\n`,
    417,
  ),

  // Chunked bodies.
  bad(
    "chunk size not hex",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    400,
    "body",
  ),
  bad(
    "chunk data longer than its size",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`,
    400,
    "body",
  ),
  bad(
    "bare LF after a chunk size",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`,
    400,
    "body",
  ),
  bad(
    "chunk larger than max_body",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n100001\r\n`,
    413,
    "body",
  ),
  bad(
    "obs-fold in the trailer",
    `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\r\n c\r\n\r\n`,
    400,
    "body",
  ),

  // Routing.
  bad("no such path", `GET /nothing HTTP/1.1\r\n${H}\r\n`, 404, "route"),
  bad(
    "POST where only GET is served",
    `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`,
    405,
    "route",
  ),
  bad("DELETE /zen", `DELETE /zen HTTP/1.1\r\n${H}\r\n`, 405, "route"),
  bad("TRACE /", `TRACE / HTTP/1.1\r\n${H}\r\n`, 405, "route"),
  bad(
    "CONNECT is not implemented",
    `CONNECT koan.test:443 HTTP/1.1\r\n${H}\r\n`,
    501,
    "route",
  ),
  bad(
    "GET /zen without a question",
    `GET /zen HTTP/1.1\r\n${H}\r\n`,
    400,
    "route",
  ),
  bad(
    "question longer than zen.max_question",
    `POST /zen HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n${
      "x".repeat(1999)
    }?`,
    413,
    "route",
  ),
  {
    name: "an error ends a pipeline: later requests are not answered",
    request: `GET / HTTP/1.1\r\n${H}\r\n` +
      `GET /nothing HTTP/1.1\r\n${H}\r\n` +
      `GET / HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    statuses: [200, 404],
    close: true,
    stage: "route",
  },
];

// 405s must say what is allowed.
for (const item of INVALID) {
  if (item.status === 405) {
    item.headers = {
      allow: item.request.includes("/zen")
        ? "GET, HEAD, POST, OPTIONS"
        : "GET, HEAD, OPTIONS",
    };
  }
}
