import assert from "node:assert/strict";
import { ZenFramer } from "./framer.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("ZenFramer.push() splits several questions from one chunk, in order", () => {
  const framer = new ZenFramer(1024);
  const { questions, tooLong } = framer.push(bytes("A?B?  C?"));
  assert.deepEqual(questions, ["A?", "B?", "C?"]);
  assert.equal(tooLong, false);
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer.push() joins a question split at every byte", () => {
  const question = "Beautiful is better than?";
  const framer = new ZenFramer(1024);
  const seen: string[] = [];
  for (const byte of bytes(question)) {
    seen.push(...framer.push(new Uint8Array([byte])).questions);
  }
  assert.deepEqual(seen, [question]);
});

Deno.test("ZenFramer.push() ignores whitespace around questions", () => {
  const framer = new ZenFramer(1024);
  assert.deepEqual(
    framer.push(bytes("\r\n  Simple is better than?\n\t")).questions,
    [
      "Simple is better than?",
    ],
  );
  assert.equal(framer.hasPartial, false);
});

Deno.test("ZenFramer.hasPartial reports an unfinished question", () => {
  const framer = new ZenFramer(1024);
  framer.push(bytes("Beautiful is"));
  assert.equal(framer.hasPartial, true);
});

Deno.test("ZenFramer.push() flags a question past max_question, split or whole", () => {
  const whole = new ZenFramer(8);
  assert.equal(whole.push(bytes("123456789?")).tooLong, true);
  const split = new ZenFramer(8);
  assert.equal(split.push(bytes("1234")).tooLong, false);
  assert.equal(split.push(bytes("56789")).tooLong, true);
  const exact = new ZenFramer(8);
  assert.deepEqual(exact.push(bytes("1234567?")).questions, ["1234567?"]);
});

Deno.test("ZenFramer.push() keeps questions answered before a too-long one", () => {
  const framer = new ZenFramer(4);
  const result = framer.push(bytes("ab?abcdefgh"));
  assert.deepEqual(result.questions, ["ab?"]);
  assert.equal(result.tooLong, true);
});
