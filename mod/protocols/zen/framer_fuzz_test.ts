/**
 * Property tests of the Zen framer: any bytes, split anywhere, give the
 * same questions as one push (and as the framer before it stopped
 * allocating per read: decode, trim, split on `?`); nothing throws;
 * pending memory is bounded.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ZenFramer } from "./framer.ts";

const MAX = 64;
const QUESTION_MARK = 0x3f;
const decoder = new TextDecoder();

function frameAll(
  chunks: Uint8Array[],
): { questions: string[]; tooLong: boolean } {
  const framer = new ZenFramer(MAX);
  const questions: string[] = [];
  // One read buffer for every chunk, as the read loop reuses its own:
  // bytes left over from a longer chunk must never count.
  const buffer = new Uint8Array(Math.max(1, ...chunks.map((c) => c.length)));
  for (const chunk of chunks) {
    buffer.fill(QUESTION_MARK);
    buffer.set(chunk);
    framer.push(buffer, chunk.length);
    while (framer.next()) {
      questions.push(
        decoder.decode(framer.bytes.subarray(framer.start, framer.end)),
      );
    }
    if (framer.tooLong) return { questions, tooLong: true };
  }
  return { questions, tooLong: false };
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((
    a,
    b,
  ) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

// Bytes biased towards the interesting ones: "?", whitespace, letters.
const byte = fc.oneof(
  fc.constantFrom(0x3f, 0x20, 0x0a, 0x0d, 0x09),
  fc.integer({ min: 0x61, max: 0x7a }),
  fc.integer({ min: 0, max: 255 }),
);
const input = fc.array(byte, { maxLength: 600 }).map((a) => Uint8Array.from(a));

Deno.test("ZenFramer gives the same questions however the bytes are split", () => {
  fc.assert(
    fc.property(input, fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
      const whole = frameAll([bytes]);
      const split = frameAll(splitAt(bytes, cuts));
      assert.equal(split.tooLong, whole.tooLong);
      if (!whole.tooLong) assert.deepEqual(split.questions, whole.questions);
    }),
    { numRuns: 500 },
  );
});

Deno.test("ZenFramer questions end in '?', are trimmed and bounded", () => {
  fc.assert(
    fc.property(input, (bytes) => {
      const { questions } = frameAll([bytes]);
      for (const question of questions) {
        assert.ok(question.endsWith("?"));
        assert.equal(question.trimStart(), question);
        assert.ok(new TextEncoder().encode(question).length <= MAX + 3 * MAX);
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("ZenFramer splits at every byte of a pipelined batch", () => {
  const batch = new TextEncoder().encode(" A?\r\nBb b?\tCcc? D");
  for (let cut = 0; cut <= batch.length; cut++) {
    const result = frameAll([batch.subarray(0, cut), batch.subarray(cut)]);
    assert.deepEqual(
      result.questions,
      ["A?", "Bb b?", "Ccc?"],
      `cut at ${cut}`,
    );
  }
});

/** The framing rule written the slow, obvious way: the specification. */
function reference(
  bytes: Uint8Array,
): { questions: string[]; tooLong: boolean } {
  const questions: string[] = [];
  let start = 0;
  const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  for (;;) {
    while (start < bytes.length && isSpace(bytes[start]!)) start++;
    const mark = bytes.indexOf(QUESTION_MARK, start);
    if (mark < 0) break;
    if (mark + 1 - start > MAX) return { questions, tooLong: true };
    questions.push(decoder.decode(bytes.subarray(start, mark + 1)));
    start = mark + 1;
  }
  return { questions, tooLong: bytes.length - start >= MAX };
}

Deno.test("ZenFramer agrees with the obvious framing rule, however split", () => {
  fc.assert(
    fc.property(input, fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
      const expected = reference(bytes);
      const split = frameAll(splitAt(bytes, cuts));
      assert.equal(split.tooLong, expected.tooLong);
      // Past a too-long question the connection closes: only what came before counts.
      const n = split.questions.length;
      assert.deepEqual(split.questions, expected.questions.slice(0, n));
      if (!expected.tooLong) assert.equal(n, expected.questions.length);
    }),
    { numRuns: 500 },
  );
});
