import assert from "node:assert/strict";
import { bytesOf } from "../../../tests/http_corpus/cases.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpError } from "./status.ts";

function decode(
  text: string,
  step: number,
  options = { maxBody: 1024, maxTrailer: 256 },
): { body: string; consumed: number; done: boolean } {
  const bytes = bytesOf(text);
  const decoder = new ChunkedDecoder(options);
  let body = "";
  const sink = {
    data(buf: Uint8Array, start: number, end: number) {
      for (let i = start; i < end; i++) body += String.fromCharCode(buf[i]!);
    },
  };
  let consumed = 0;
  for (let at = 0; at < bytes.length && !decoder.done; at += step) {
    const end = Math.min(bytes.length, at + step);
    const used = decoder.push(bytes, at, end, sink);
    consumed += used;
    if (used < end - at) break;
  }
  return { body, consumed, done: decoder.done };
}

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
  return 0;
}

const BODY = "4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n" +
  "0\r\nExpires: never\r\n\r\n";

Deno.test("ChunkedDecoder decodes whatever the split", () => {
  for (const step of [BODY.length, 1, 2, 3, 5, 13]) {
    const { body, consumed, done } = decode(BODY, step);
    assert.equal(body, "Wikipedia in\r\n\r\nchunks.", `step ${step}`);
    assert.equal(consumed, BODY.length);
    assert.equal(done, true);
  }
});

Deno.test("ChunkedDecoder stops at the end of the body", () => {
  const { consumed, done } = decode(`${BODY}GET / HTTP/1.1\r\n`, 1000);
  assert.equal(done, true);
  assert.equal(consumed, BODY.length);
});

Deno.test("ChunkedDecoder accepts uppercase hex and leading zeros", () => {
  assert.equal(decode("000A\r\n0123456789\r\n0\r\n\r\n", 3).body, "0123456789");
});

Deno.test("ChunkedDecoder refuses malformed framing with 400", () => {
  for (
    const bad of [
      "\r\n",
      "g\r\n",
      "5\nhello\r\n0\r\n\r\n",
      "5\r\nhelloX\r\n",
      "5\r\nhello\rX",
      "0\r\n\x00\r\n\r\n",
      "0\r\n\r\r",
      "5;\x01\r\n",
      "0\r\n X: y\r\n\r\n",
    ]
  ) {
    assert.equal(statusOf(() => decode(bad, 100)), 400, JSON.stringify(bad));
  }
});

Deno.test("ChunkedDecoder refuses bodies past maxBody with 413", () => {
  assert.equal(statusOf(() => decode("401\r\n", 10)), 413);
  assert.equal(
    statusOf(() => decode("200\r\n" + "a".repeat(512) + "\r\n201\r\n", 7)),
    413,
  );
  assert.equal(statusOf(() => decode("fffffffffffffff\r\n", 10)), 413);
});

Deno.test("ChunkedDecoder refuses a huge trailer with 431", () => {
  assert.equal(
    statusOf(() => decode(`0\r\nX: ${"y".repeat(300)}\r\n\r\n`, 50)),
    431,
  );
});
