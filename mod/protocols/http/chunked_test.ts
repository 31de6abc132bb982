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

Deno.test("ChunkedDecoder refuses a chunk-size line outside its grammar with 400, whatever the split", () => {
  for (
    const line of [
      "5x", // a byte after the size, not ";"
      "5 junk", // words after the size, not ";"
      "5 ", // whitespace, then no extension
      "5\t",
      "5 \t ",
      "5\xa0", // U+00A0 (latin1) is not whitespace
      "5\xef\xbb\xbf", // nor U+FEFF (UTF-8)
      "5;", // ";" with no name
      "5; ",
      "5;;a",
      "5;=b",
      "5;a=", // "=" with no value
      "5;a= ",
      "5;a@b", // name not a token
      "5;\xa0a",
      "5;a\xa0",
      "5;a=b@c", // value neither token nor quoted-string
      "5;a=b ", // whitespace ending the line
      "5;a ",
      '5;a="b', // a quoted-string that never closes
      '5;a="b\\',
      '5;a="b"c', // bytes after a quoted-string
      '5;a="b" ',
      '5;a="\x01"', // a control inside a quoted-string
      '5;a="\\\x01"', // a control in a quoted-pair
      "5;a\r", // CR not followed by LF
    ]
  ) {
    const text = `${line}\r\nhello\r\n0\r\n\r\n`;
    for (const step of [text.length, 1, 3]) {
      assert.equal(
        statusOf(() => decode(text, step)),
        400,
        `${JSON.stringify(line)} step ${step}`,
      );
    }
  }
});

Deno.test("ChunkedDecoder accepts extensions with BWS, tokens and quoted strings", () => {
  const text = "5 ; a = b\t;\tc;d=e\r\nhello\r\n" +
    '3;q="a \\" ; b\xe9";r\r\nabc\r\n' +
    '0 ;last="\\\\"\r\n\r\n';
  for (const step of [text.length, 1, 2, 7]) {
    const { body, consumed, done } = decode(text, step);
    assert.equal(body, "helloabc", `step ${step}`);
    assert.equal(consumed, text.length);
    assert.equal(done, true);
  }
});

Deno.test("ChunkedDecoder still bounds the chunk-size line", () => {
  assert.equal(
    statusOf(() => decode(`5;a=${"b".repeat(4100)}\r\nhello\r\n`, 64)),
    400,
  );
  assert.equal(
    statusOf(() => decode(`5;a="${"b".repeat(4100)}"\r\nhello\r\n`, 64)),
    400,
  );
  assert.equal(
    decode(`5;a=${"b".repeat(4000)}\r\nhello\r\n0\r\n\r\n`, 64).body,
    "hello",
  );
});

Deno.test("ChunkedDecoder refuses trailer lines that are not field lines with 400", () => {
  for (
    const fields of [
      "X-T\r\n", // no colon
      "X-T : v\r\n", // whitespace before the colon
      "X-T\t: v\r\n",
      ": v\r\n", // empty name
      "\xa0X: v\r\n",
      "X\xa0: v\r\n",
      "X@T: v\r\n",
      "GET /smuggled HTTP/1.1\r\n", // a request line
      "X-T: v\x00\r\n",
      "X-T: v\r\n w\r\n", // obs-fold
    ]
  ) {
    const text = `0\r\n${fields}\r\n`;
    for (const step of [text.length, 1]) {
      assert.equal(
        statusOf(() => decode(text, step)),
        400,
        `${JSON.stringify(fields)} step ${step}`,
      );
    }
  }
});

Deno.test("ChunkedDecoder accepts trailer fields with OWS and empty values", () => {
  const text = "0\r\nX-A:\r\nX-B: \t a b \t\r\nX-C:v\xe9\r\n\r\n";
  for (const step of [text.length, 1]) {
    const { consumed, done } = decode(text, step);
    assert.equal(done, true);
    assert.equal(consumed, text.length);
  }
});
