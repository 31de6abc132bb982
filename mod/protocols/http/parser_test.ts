import assert from "node:assert/strict";
import {
  bytesOf,
  type Case,
  LIMITS,
} from "../../../tests/http_corpus/cases.ts";
import { INVALID } from "../../../tests/http_corpus/invalid.ts";
import { VALID } from "../../../tests/http_corpus/valid.ts";
import { RequestParser } from "./parser.ts";
import type { HttpRequest } from "./request.ts";
import { HttpError } from "./status.ts";

/**
 * Feeds `bytes` to a parser `step` bytes at a time, as a connection would,
 * and returns the first request, "incomplete", or the HttpError thrown.
 */
function feed(
  bytes: Uint8Array,
  step: number,
): HttpRequest | "incomplete" | HttpError {
  const parser = new RequestParser(LIMITS);
  const buf = new Uint8Array(bytes.length);
  let start = 0;
  let end = 0;
  try {
    for (;;) {
      if (end > start) {
        start = parser.skipBlankLines(buf, start, end);
        const length = parser.scan(buf, start, end);
        if (length >= 0) return parser.parse(buf, start, length);
      }
      if (end === bytes.length) return "incomplete";
      const next = Math.min(bytes.length, end + step);
      buf.set(bytes.subarray(end, next), end);
      end = next;
    }
  } catch (error) {
    return httpError(error);
  }
}

/** Narrows to HttpError or fails the test. */
function httpError(value: unknown, message = ""): HttpError {
  if (!(value instanceof HttpError)) {
    throw new assert.AssertionError({
      message: `${message} expected HttpError, got ${String(value)}`,
    });
  }
  return value;
}

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    return httpError(error);
  }
  return httpError(undefined, "nothing thrown:");
}

const parserCases = (cases: Case[]) =>
  cases.filter((c) => c.stage === "parser");

for (const item of parserCases(VALID)) {
  Deno.test(`RequestParser accepts: ${item.name}`, () => {
    const bytes = bytesOf(item.request);
    // Whole, then split at every possible size: the result must not depend on it.
    for (const step of [bytes.length, 1, 2, 7, 64]) {
      const result = feed(bytes, step);
      if (result === "incomplete" || result instanceof HttpError) {
        throw new Error(`step ${step}: ${String(result)}`);
      }
      for (const [key, value] of Object.entries(item.parsed ?? {})) {
        assert.deepEqual(
          result[key as keyof HttpRequest],
          value,
          `step ${step}: ${key}`,
        );
      }
    }
  });
}

for (const item of parserCases(INVALID)) {
  Deno.test(`RequestParser refuses with ${item.status}: ${item.name}`, () => {
    const bytes = bytesOf(item.request);
    for (const step of [bytes.length, 1, 5, 100]) {
      const result = httpError(feed(bytes, step), `step ${step}:`);
      assert.equal(
        result.status,
        item.status,
        `step ${step}: ${result.message}`,
      );
    }
  });
}

Deno.test("RequestParser.scan() reports 414 before the line ends", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf(`GET /${"a".repeat(LIMITS.maxRequestLine)}`);
  assert.equal(thrown(() => parser.scan(bytes, 0, bytes.length)).status, 414);
});

Deno.test("RequestParser.scan() reports 431 before the head ends", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf(
    `GET / HTTP/1.1\r\nX: ${"b".repeat(LIMITS.maxHeaderBytes + 8)}`,
  );
  assert.equal(thrown(() => parser.scan(bytes, 0, bytes.length)).status, 431);
});

Deno.test("RequestParser parses pipelined heads one after another", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf(
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b?c HTTP/1.0\r\n\r\nGET /c HTTP/1.1\r\n",
  );
  let start = 0;
  const seen: string[] = [];
  for (;;) {
    start = parser.skipBlankLines(bytes, start, bytes.length);
    const length = parser.scan(bytes, start, bytes.length);
    if (length < 0) break;
    const request = parser.parse(bytes, start, length);
    seen.push(
      `${request.method} ${request.path} ${request.query} 1.${request.minor}`,
    );
    start += length;
  }
  assert.deepEqual(seen, ["GET /a  1.1", "HEAD /b c 1.0"]);
  assert.ok(parser.begun, "the third head has begun");
});

Deno.test("RequestParser counts blank lines and the head in headBytes", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf("\r\nGET / HTTP/1.0\r\n\r\n");
  const start = parser.skipBlankLines(bytes, 0, bytes.length);
  const length = parser.scan(bytes, start, bytes.length);
  assert.equal(parser.parse(bytes, start, length).headBytes, bytes.length);
});

Deno.test("RequestParser ignores Expect: 100-continue from HTTP/1.0", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
  const request = parser.parse(bytes, 0, parser.scan(bytes, 0, bytes.length));
  assert.equal(request.expectContinue, false);
});

Deno.test("RequestParser.captured() gives the access log's headers of each accepted head", () => {
  const parser = new RequestParser(LIMITS, ["referer", "user-agent"]);
  const bytes = bytesOf(
    "GET /a HTTP/1.1\r\nHost: x\r\nUSER-agent: \t curl/8.5 \t\r\nReferer: r1\r\nReferer: r2\r\n\r\n" +
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /c HTTP/1.1\r\nHost: x\r\nUser-Agent: refused\r\nBad Name: y\r\n\r\n" +
      "GET /d HTTP/1.1\r\nHost: x\r\nReferer: r4\r\n\r\n",
  );
  const seen: (string | undefined)[][] = [];
  let start = 0;
  for (;;) {
    const length = parser.scan(bytes, start, bytes.length);
    if (length < 0) break;
    try {
      parser.parse(bytes, start, length);
      const headers = parser.captured();
      seen.push([headers?.get("user-agent"), headers?.get("referer")]);
      assert.equal(parser.captured(), undefined, "read once per head");
    } catch (error) {
      assert.equal(httpError(error).status, 400);
      seen.push(["refused"]);
    }
    start += length;
  }
  assert.deepEqual(seen, [
    ["curl/8.5", "r1"],
    [undefined, undefined],
    ["refused"],
    [undefined, "r4"],
  ]);
});

Deno.test("RequestParser captures nothing when the access log prints no header", () => {
  const parser = new RequestParser(LIMITS);
  const bytes = bytesOf("GET / HTTP/1.1\r\nHost: x\r\nReferer: r\r\n\r\n");
  parser.parse(bytes, 0, parser.scan(bytes, 0, bytes.length));
  assert.equal(parser.captured(), undefined);
});

/** Parses one whole head: the request, or the HttpError it was refused with. */
function parseHead(text: string): HttpRequest | HttpError {
  const result = feed(bytesOf(text), text.length);
  if (result === "incomplete") throw new Error(`incomplete: ${text}`);
  return result;
}

/** The request `text` parses into, or a failed test. */
function accepted(text: string): HttpRequest {
  const result = parseHead(text);
  if (result instanceof HttpError) {
    throw new assert.AssertionError({
      message: `${JSON.stringify(text)} refused: ${result.message}`,
    });
  }
  return result;
}

const POST_HEAD = "POST / HTTP/1.1\r\nHost: x\r\n";

Deno.test("RequestParser trims list elements of OWS (SP, HTAB) only: U+00A0 and U+FEFF around chunked make an unknown coding", () => {
  for (
    const value of [
      "\xa0chunked",
      "chunked\xa0",
      "\xa0chunked\xa0",
      "\xa0, chunked",
      "chunked,\xa0",
      "\xef\xbb\xbfchunked",
      "chunked\xef\xbb\xbf",
      "\x85chunked",
    ]
  ) {
    const result = parseHead(
      `${POST_HEAD}Transfer-Encoding: ${value}\r\n\r\n`,
    );
    assert.ok(result instanceof HttpError, JSON.stringify(value));
    assert.equal(result.status, 501, JSON.stringify(value));
    assert.match(result.message, /^Transfer-Encoding "[\x21-\x7e]*" is not/);
  }
});

Deno.test("RequestParser accepts OWS and empty elements around chunked, over several lines", () => {
  for (
    const fields of [
      "Transfer-Encoding: \t chunked \t\r\n",
      "Transfer-Encoding: ,\t, chunked ,\r\n",
      "Transfer-Encoding: ,\r\nTransfer-Encoding: CHUNKED\r\n",
    ]
  ) {
    const request = accepted(`${POST_HEAD}${fields}\r\n`);
    assert.equal(request.chunked, true, JSON.stringify(fields));
  }
  assert.equal(
    thrown(() => {
      throw parseHead(
        `${POST_HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
    }).status,
    400,
    "chunked twice over two lines",
  );
});

Deno.test("RequestParser reads Connection options trimmed of OWS only", () => {
  const keep = (fields: string, minor = 1) =>
    accepted(
      `GET / HTTP/1.${minor}\r\nHost: x\r\n${fields}\r\n`,
    ).keepAlive;
  assert.equal(keep("Connection: close\r\n"), false);
  assert.equal(keep("Connection: \tClose\t\r\n"), false);
  assert.equal(keep("Connection: upgrade ,\tclose,\r\n"), false);
  assert.equal(keep("Connection: upgrade\r\nConnection: close\r\n"), false);
  assert.equal(keep("Connection: close, keep-alive\r\n"), false);
  assert.equal(keep("Connection: \xa0close\xa0\r\n"), true);
  assert.equal(keep("Connection: close\xa0, x\r\n"), true);
  assert.equal(keep("Connection: closed, xclose\r\n"), true);
  assert.equal(keep("Connection: \xef\xbb\xbfclose\r\n"), true);
  assert.equal(keep("", 0), false);
  assert.equal(keep("Connection: Keep-Alive\r\n", 0), true);
  assert.equal(keep("Connection: \xa0keep-alive\r\n", 0), false);
});

Deno.test("RequestParser reads Expect as a list trimmed of OWS only", () => {
  const expect = (value: string) =>
    parseHead(`${POST_HEAD}Expect: ${value}\r\nContent-Length: 1\r\n\r\n`);
  for (const value of ["100-continue", "100-Continue \t", ", 100-continue ,"]) {
    const result = expect(value);
    assert.ok(!(result instanceof HttpError), JSON.stringify(value));
    assert.equal(result.expectContinue, true, JSON.stringify(value));
  }
  for (
    const value of [
      "\xa0100-continue",
      "100-continue\xa0",
      "\xef\xbb\xbf100-continue",
      "100-continue, 200-ok",
      "",
    ]
  ) {
    const result = expect(value);
    assert.ok(result instanceof HttpError, JSON.stringify(value));
    assert.equal(result.status, 417, JSON.stringify(value));
  }
});

Deno.test("RequestParser refuses Content-Length with anything but digits and OWS", () => {
  for (const value of ["\xa05", "5\xa0", "\xef\xbb\xbf5", "5, 5", "5 5"]) {
    const result = parseHead(`${POST_HEAD}Content-Length: ${value}\r\n\r\n`);
    assert.ok(result instanceof HttpError, JSON.stringify(value));
    assert.equal(result.status, 400, JSON.stringify(value));
  }
  assert.equal(
    accepted(`${POST_HEAD}Content-Length:\t5 \r\n\r\n`).contentLength,
    5,
  );
});
