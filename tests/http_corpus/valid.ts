/**
 * Requests koan must accept, with what they parse into and how they are
 * answered (built-in routes, no docroot).
 *
 * @module
 */
import type { Case } from "./cases.ts";

const H = "Host: koan.test\r\n";
const manyHeaders = Array.from({ length: 99 }, (_, i) => `X-H${i}: v\r\n`)
  .join("");
// Request line of exactly 8192 bytes: "GET " + target + " HTTP/1.1".
const longTarget = "/" + "a".repeat(8192 - "GET  HTTP/1.1".length - 1);
// Header block of exactly 16384 bytes (field lines with their CRLFs).
const bigHeader = `X-Big: ${"b".repeat(16384 - H.length - 9)}\r\n`;

/** The accepted vectors. */
export const VALID: Case[] = [
  {
    name: "simplest HTTP/1.1 GET",
    request: `GET / HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "Hello, world!",
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-length": "13",
    },
    parsed: {
      method: "GET",
      target: "/",
      path: "/",
      minor: 1,
      keepAlive: true,
    },
    stage: "parser",
  },
  {
    name: "HTTP/1.0 without Host closes by default",
    request: "GET / HTTP/1.0\r\n\r\n",
    status: 200,
    close: true,
    headers: { connection: "close" },
    parsed: { minor: 0, keepAlive: false },
    stage: "parser",
  },
  {
    name: "HTTP/1.0 keep-alive when asked",
    request: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    status: 200,
    headers: { connection: "keep-alive" },
    parsed: { minor: 0, keepAlive: true },
    stage: "parser",
  },
  {
    name: "Connection: close on HTTP/1.1",
    request: `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    status: 200,
    close: true,
    headers: { connection: "close" },
    parsed: { keepAlive: false },
    stage: "parser",
  },
  {
    name: "Connection list with close wins, any case",
    request: `GET / HTTP/1.1\r\n${H}Connection: Keep-Alive, CLOSE\r\n\r\n`,
    status: 200,
    close: true,
    parsed: { keepAlive: false },
    stage: "parser",
  },
  {
    name: "HEAD answers headers only with GET's length",
    request: `HEAD / HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "",
    headers: { "content-length": "13" },
    parsed: { method: "HEAD" },
    stage: "parser",
  },
  {
    name: "field names are case-insensitive",
    request: "GET / HTTP/1.1\r\nhOsT: koan.test\r\n\r\n",
    status: 200,
    stage: "parser",
  },
  {
    name: "optional whitespace around a value",
    request: "GET / HTTP/1.1\r\nHost: \t koan.test \t\r\n\r\n",
    status: 200,
    stage: "parser",
  },
  {
    name: "empty Host is allowed",
    request: "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    status: 200,
    stage: "parser",
  },
  {
    name: "IPv6 literal Host with port",
    request: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    status: 200,
    stage: "parser",
  },
  {
    name: "blank lines before the request line are ignored",
    request: `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    stage: "parser",
  },
  {
    name: "absolute-form target",
    request:
      "GET http://koan.test/healthz?x=1 HTTP/1.1\r\nHost: koan.test\r\n\r\n",
    status: 200,
    body: "ok",
    parsed: { path: "/healthz", query: "x=1" },
    stage: "parser",
  },
  {
    name: "tab and obs-text inside a value",
    request: `GET / HTTP/1.1\r\n${H}User-Agent: a\tb \xe9\r\n\r\n`,
    status: 200,
    stage: "parser",
  },
  {
    name: "Content-Length with leading zeros",
    request: `POST /zen HTTP/1.1\r\n${H}Content-Length: 0005\r\n\r\nRead?`,
    status: 200,
    body: "Error: unknown aphorism.",
    parsed: { method: "POST", contentLength: 5 },
    stage: "parser",
  },
  {
    name: "99 extra fields (100 in all) is the limit, not over it",
    request: `GET / HTTP/1.1\r\n${H}${manyHeaders}\r\n`,
    status: 200,
    stage: "parser",
  },
  {
    name: "request line of exactly max_request_line bytes",
    request: `GET ${longTarget} HTTP/1.1\r\n${H}\r\n`,
    status: 404,
    close: true,
    stage: "parser",
  },
  {
    name: "header block of exactly max_header_bytes",
    request: `GET / HTTP/1.1\r\n${H}${bigHeader}\r\n`,
    status: 200,
    stage: "parser",
  },
  {
    name: "GET /healthz",
    request: `GET /healthz HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "ok",
    stage: "route",
  },
  {
    name: "GET /zen with a percent-encoded question",
    request:
      `GET /zen?q=Beautiful%20is%20better%20than%3F HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "ugly.",
    parsed: { path: "/zen", query: "q=Beautiful%20is%20better%20than%3F" },
    stage: "route",
  },
  {
    name: "GET /zen with + for spaces and whitespace around",
    request: `GET /zen?q=+Simple+is+better+than%3F+ HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "complex.",
    stage: "route",
  },
  {
    name: "GET /zen with an unknown question",
    request: `GET /zen?q=Why%3F HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    body: "Error: unknown aphorism.",
    stage: "route",
  },
  {
    name: "GET /zen as JSON",
    request:
      `GET /zen?q=Readability%3F HTTP/1.1\r\n${H}Accept: text/html, application/json;q=0.9\r\n\r\n`,
    status: 200,
    body: '{"question":"Readability?","answer":"counts."}',
    headers: { "content-type": "application/json" },
    parsed: { accept: "text/html, application/json;q=0.9" },
    stage: "route",
  },
  {
    name: "POST /zen with Content-Length",
    request:
      `POST /zen HTTP/1.1\r\n${H}Content-Length: 26\r\n\r\nBeautiful is better than?\n`,
    status: 200,
    body: "ugly.",
    stage: "body",
  },
  {
    name: "POST /zen chunked, with an extension and a trailer",
    request: `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n` +
      "a;note=1\r\nExplicit i\r\n" +
      "E\r\ns better than?\r\n" +
      "0\r\nX-Trailer: yes\r\n\r\n",
    status: 200,
    body: "implicit.",
    parsed: { chunked: true, contentLength: -1 },
    stage: "body",
  },
  {
    name: "POST /zen with Expect: 100-continue and the body already sent",
    request:
      `POST /zen HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 20\r\n\r\nFlat is better than?`,
    status: 200,
    body: "nested.",
    parsed: { expectContinue: true },
    stage: "body",
  },
  {
    name: "OPTIONS on a route lists its methods",
    request: `OPTIONS /zen HTTP/1.1\r\n${H}\r\n`,
    status: 204,
    headers: { allow: "GET, HEAD, POST, OPTIONS" },
    stage: "route",
  },
  {
    name: "OPTIONS *",
    request: `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
    status: 204,
    headers: { allow: "GET, HEAD, POST, OPTIONS" },
    parsed: { method: "OPTIONS", path: "*" },
    stage: "parser",
  },
  {
    name: "three pipelined requests, answered in order",
    request: `GET / HTTP/1.1\r\n${H}\r\n` +
      `GET /healthz HTTP/1.1\r\n${H}\r\n` +
      `GET /zen?q=Readability%3F HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    statuses: [200, 200, 200],
    stage: "route",
  },
  {
    name: "a body nobody reads is skipped before the next pipelined request",
    request: `GET / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello` +
      `GET /healthz HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    statuses: [200, 200],
    stage: "body",
  },
  {
    name: "pipelined POST between GETs",
    request: `GET / HTTP/1.1\r\n${H}\r\n` +
      `POST /zen HTTP/1.1\r\n${H}Content-Length: 12\r\n\r\nReadability?` +
      `GET /healthz HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    statuses: [200, 200, 200],
    stage: "body",
  },
];
