import assert from "node:assert/strict";
import { LineBuffer } from "./line_buffer.ts";

const decoder = new TextDecoder();

function written(fill: (out: LineBuffer) => void, size = 4): string {
  const out = new LineBuffer(size);
  fill(out);
  return decoder.decode(out.view());
}

Deno.test("LineBuffer grows past its first size and keeps what it holds", () => {
  const out = new LineBuffer(2);
  out.text("hello, ");
  out.text("wörld");
  out.byte(0x0a);
  assert.equal(decoder.decode(out.view()), "hello, wörld\n");
  out.clear();
  assert.equal(out.length, 0);
  out.put(new Uint8Array([0x41]));
  assert.equal(decoder.decode(out.view()), "A");
});

Deno.test("LineBuffer.uint() writes every magnitude", () => {
  for (const n of [0, 7, 10, 99, 100, 65535, 1234567890123, 2 ** 53 - 1]) {
    assert.equal(written((out) => out.uint(n)), String(n));
  }
});

Deno.test("LineBuffer.milli() writes thousandths with three decimals", () => {
  assert.equal(written((out) => out.milli(0)), "0.000");
  assert.equal(written((out) => out.milli(15)), "0.015");
  assert.equal(written((out) => out.milli(1235)), "1.235");
  assert.equal(written((out) => out.milli(1796192867250)), "1796192867.250");
});

Deno.test("LineBuffer.escaped() escapes as nginx's escape=default", () => {
  assert.equal(
    written((out) =>
      out.escaped('ok "q" \\ \t\x00\x1f\x7f \xe9 \u20ac \u{1f600}')
    ),
    "ok \\x22q\\x22 \\x5C \\x09\\x00\\x1F\\x7F \\xE9 \\xE2\\x82\\xAC \\xF0\\x9F\\x98\\x80",
  );
  const printable = Array.from(
    { length: 95 },
    (_, i) => String.fromCharCode(0x20 + i),
  )
    .filter((c) => c !== '"' && c !== "\\").join("");
  assert.equal(written((out) => out.escaped(printable)), printable);
});

Deno.test("LineBuffer.json() escapes a JSON string's inside", () => {
  const text = 'q" b\\ n\n r\r t\t \x01 \x7f \xe9 \u20ac \u{1f600}';
  const inside = written((out) => out.json(text));
  assert.equal(
    inside,
    'q\\" b\\\\ n\\n r\\r t\\t \\u0001 \\u007F \\u00E9 \u20ac \u{1f600}',
  );
  assert.equal(JSON.parse(`"${inside}"`), text);
});

Deno.test("LineBuffer.plain() keeps text but escapes what would break a line", () => {
  assert.equal(
    written((out) => out.plain("a b\nc\r\x7f é€")),
    "a b\\x0Ac\\x0D\\x7F é€",
  );
});
