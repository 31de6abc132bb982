import assert from "node:assert/strict";
import { ZenFramer } from "./framer.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const decoder = new TextDecoder();

/** Pushes `chunk` (its first `length` bytes) and collects what it completes. */
function frame(
  framer: ZenFramer,
  chunk: Uint8Array,
  length = chunk.length,
): { questions: string[]; tooLong: boolean } {
  framer.push(chunk, length);
  const questions: string[] = [];
  while (framer.next()) {
    questions.push(
      decoder.decode(framer.bytes.subarray(framer.start, framer.end)),
    );
  }
  return { questions, tooLong: framer.tooLong };
}

Deno.test("ZenFramer.push() splits several questions from one chunk, in order", () => {
  const framer = new ZenFramer(1024);
  const { questions, tooLong } = frame(framer, bytes("A?B?  C?"));
  assert.deepEqual(questions, ["A?", "B?", "C?"]);
  assert.equal(tooLong, false);
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer.push() joins a question split at every byte", () => {
  const question = "Beautiful is better than?";
  const framer = new ZenFramer(1024);
  const seen: string[] = [];
  for (const byte of bytes(question)) {
    seen.push(...frame(framer, new Uint8Array([byte])).questions);
  }
  assert.deepEqual(seen, [question]);
});

Deno.test("ZenFramer.push() ignores whitespace around questions", () => {
  const framer = new ZenFramer(1024);
  assert.deepEqual(
    frame(framer, bytes("\r\n  Simple is better than?\n\t")).questions,
    [
      "Simple is better than?",
    ],
  );
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer.hasPartial reports an unfinished question", () => {
  const framer = new ZenFramer(1024);
  frame(framer, bytes("Beautiful is"));
  assert.equal(framer.hasPartial, true);
  frame(framer, bytes(" better than?"));
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer.push() flags a question past max_question, split or whole", () => {
  const whole = new ZenFramer(8);
  assert.equal(frame(whole, bytes("123456789?")).tooLong, true);
  const split = new ZenFramer(8);
  assert.equal(frame(split, bytes("1234")).tooLong, false);
  assert.equal(frame(split, bytes("56789")).tooLong, true);
  const exact = new ZenFramer(8);
  assert.deepEqual(frame(exact, bytes("1234567?")).questions, ["1234567?"]);
});

Deno.test("ZenFramer.push() keeps questions answered before a too-long one", () => {
  const framer = new ZenFramer(4);
  const result = frame(framer, bytes("ab?abcdefgh"));
  assert.deepEqual(result.questions, ["ab?"]);
  assert.equal(result.tooLong, true);
});

Deno.test("ZenFramer.push() reads only the first `length` bytes of a reused buffer", () => {
  const framer = new ZenFramer(1024);
  const buffer = new Uint8Array(64);
  buffer.set(bytes("A?B?C?"));
  assert.deepEqual(frame(framer, buffer, 2).questions, ["A?"]);
  // Stale bytes past `length` (from an earlier, longer read) are not data.
  buffer.set(bytes("D"));
  assert.deepEqual(frame(framer, buffer, 1).questions, []);
  assert.equal(framer.hasPartial, true);
  buffer.set(bytes("?"));
  assert.deepEqual(frame(framer, buffer, 1).questions, ["D?"]);
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer keeps a split question's bytes though the caller's buffer is reused", () => {
  const framer = new ZenFramer(1024);
  const buffer = new Uint8Array(8);
  const seen: string[] = [];
  for (const piece of ["Readab", "ility? A", "?"]) {
    buffer.fill(0x21); // whatever the last read left
    buffer.set(bytes(piece));
    seen.push(...frame(framer, buffer, piece.length).questions);
  }
  assert.deepEqual(seen, ["Readability?", "A?"]);
});

Deno.test("ZenFramer hands a question out of the caller's bytes without copying", () => {
  const framer = new ZenFramer(1024);
  const chunk = bytes(" A? ");
  framer.push(chunk, chunk.length);
  assert.equal(framer.next(), true);
  assert.equal(framer.bytes, chunk);
  assert.deepEqual([framer.start, framer.end], [1, 3]);
  assert.equal(framer.next(), false);
  assert.equal(framer.tooLong, false);
});

Deno.test("ZenFramer grows its pending buffer for a long split question, up to max_question", () => {
  const max = 4096;
  const framer = new ZenFramer(max);
  const question = "x".repeat(max - 1) + "?";
  const seen: string[] = [];
  for (let at = 0; at < question.length; at += 100) {
    seen.push(...frame(framer, bytes(question.slice(at, at + 100))).questions);
  }
  assert.deepEqual(seen, [question]);
  // A question over the limit by one byte, split the same way, is refused.
  const over = new ZenFramer(max);
  let tooLong = false;
  for (let at = 0; at <= max && !tooLong; at += 100) {
    tooLong = frame(over, bytes(("x".repeat(max) + "?").slice(at, at + 100)))
      .tooLong;
  }
  assert.equal(tooLong, true);
  assert.equal(over.hasPartial, false);
});

Deno.test("ZenFramer.tooLong is cleared by the next push", () => {
  const framer = new ZenFramer(4);
  assert.equal(frame(framer, bytes("abcdef")).tooLong, true);
  assert.deepEqual(frame(framer, bytes("ab?")), {
    questions: ["ab?"],
    tooLong: false,
  });
});
