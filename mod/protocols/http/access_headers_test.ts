import assert from "node:assert/strict";
import { captureHeaders, HeaderCapture } from "./access_headers.ts";

const encoder = new TextEncoder();
const NAMES = ["referer", "user-agent"];

function head(text: string): Uint8Array {
  return encoder.encode(text);
}

Deno.test("captureHeaders() takes the wanted fields in any case, trimmed", () => {
  const bytes = head(
    "GET / HTTP/1.1\r\nHost: x\r\nUSER-AGENT: \t curl/8.5 \t\r\nReferer:http://r/\r\n\r\n",
  );
  const headers = captureHeaders(bytes, 0, bytes.length, NAMES);
  assert.equal(headers?.get("user-agent"), "curl/8.5");
  assert.equal(headers?.get("referer"), "http://r/");
  assert.equal(headers?.get("host"), undefined, "not asked for");
});

Deno.test("captureHeaders() keeps the first of repeated fields and empty values", () => {
  const bytes = head(
    "GET / HTTP/1.1\r\nReferer:\r\nReferer: second\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n",
  );
  const headers = captureHeaders(bytes, 0, bytes.length, NAMES);
  assert.equal(headers?.get("referer"), "");
  assert.equal(headers?.get("user-agent"), "a");
});

Deno.test("captureHeaders() allocates nothing when no wanted field was sent", () => {
  const bytes = head("GET / HTTP/1.1\r\nHost: x\r\nUser-Agentx: no\r\n\r\n");
  assert.equal(captureHeaders(bytes, 0, bytes.length, NAMES), undefined);
  assert.equal(captureHeaders(bytes, 0, bytes.length, []), undefined);
});

Deno.test("captureHeaders() reads one head of a pipelined buffer and keeps bytes as Latin-1", () => {
  const first = "GET /1 HTTP/1.1\r\nUser-Agent: one \xe9\r\n\r\n";
  const bytes = new Uint8Array([
    ...encoder.encode("junk"),
    ...Uint8Array.from(first, (c) => c.charCodeAt(0)),
    ...encoder.encode("GET /2 HTTP/1.1\r\nReferer: two\r\n\r\n"),
  ]);
  const headers = captureHeaders(bytes, 4, 4 + first.length, NAMES);
  assert.equal(headers?.get("user-agent"), "one \xe9");
  assert.equal(
    headers?.get("referer"),
    undefined,
    "the next head is not this one's",
  );
});

Deno.test("captureHeaders() finds a header named in a template with dashes", () => {
  const bytes = head("GET / HTTP/1.1\r\nX-Request-Id: 42\r\n\r\n");
  const headers = captureHeaders(bytes, 0, bytes.length, ["x-request-id"]);
  assert.equal(headers?.get("x-request-id"), "42");
});

Deno.test("HeaderCapture keeps the first value of each wanted field, one head at a time", () => {
  const bytes = head("referer: a\r\nREFERER: b\r\nx-id: 7\r\n");
  const capture = new HeaderCapture(["referer", "x-id", "user-agent"]);
  capture.field(bytes, 0, 7, 9, 10);
  capture.field(bytes, 12, 19, 21, 22);
  capture.field(bytes, 24, 28, 30, 31);
  const headers = capture.end();
  assert.equal(headers?.get("referer"), "a");
  assert.equal(headers?.get("x-id"), "7");
  assert.equal(headers?.get("user-agent"), undefined);
  assert.equal(capture.end(), undefined, "the next head starts empty");
  capture.field(bytes, 0, 7, 9, 10);
  capture.reset();
  assert.equal(capture.end(), undefined, "a refused head's fields are dropped");
});
