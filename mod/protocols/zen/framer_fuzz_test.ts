/**
 * Property tests of the Zen framer: any bytes, split anywhere, give the
 * same questions as one push; nothing throws; pending memory is bounded.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ZenFramer } from "./framer.ts";

const MAX = 64;

function frameAll(
  chunks: Uint8Array[],
): { questions: string[]; tooLong: boolean } {
  const framer = new ZenFramer(MAX);
  const questions: string[] = [];
  for (const chunk of chunks) {
    const result = framer.push(chunk);
    questions.push(...result.questions);
    if (result.tooLong) return { questions, tooLong: true };
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
