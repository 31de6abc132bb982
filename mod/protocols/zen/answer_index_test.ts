import assert from "node:assert/strict";
import fc from "fast-check";
import { AnswerIndex } from "./answer_index.ts";
import { BUILT_IN_APHORISMS, BUILT_IN_TABLE, makeTable } from "./aphorisms.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const UNKNOWN = encoder.encode("Error: unknown aphorism.");

/** The index's answer to `bytes`, as text. */
function ask(index: AnswerIndex, bytes: Uint8Array): string {
  return decoder.decode(index.get(bytes, 0, bytes.length));
}

Deno.test("AnswerIndex answers every built-in question, and only those", () => {
  const index = new AnswerIndex(BUILT_IN_TABLE, UNKNOWN);
  for (const [question, answer] of BUILT_IN_APHORISMS) {
    assert.equal(ask(index, encoder.encode(question)), answer);
  }
  for (const near of ["Readability", "readability?", "Readability? ", "?"]) {
    assert.equal(ask(index, encoder.encode(near)), "Error: unknown aphorism.");
  }
});

Deno.test("AnswerIndex looks a question up in the middle of a buffer", () => {
  const index = new AnswerIndex(BUILT_IN_TABLE, UNKNOWN);
  const bytes = encoder.encode("xxReadability?yy");
  assert.equal(decoder.decode(index.get(bytes, 2, 14)), "counts.");
});

Deno.test("AnswerIndex gives what decoding and Map.get give, for any bytes", () => {
  // A table with non-ASCII questions, one starting with a BOM (which the
  // decoder drops) and one with a lone surrogate (which it cannot give).
  const table = makeTable([
    ...BUILT_IN_APHORISMS,
    ["Schön ist besser als?", "hässlich."],
    ["\uFEFFBOM?", "bom."],
    ["BOM?", "plain."],
    ["\uD800?", "lone."],
    ["\uFFFD?", "replacement."],
  ]);
  const index = new AnswerIndex(table, UNKNOWN);
  const expected = (bytes: Uint8Array) =>
    decoder.decode(table.get(decoder.decode(bytes)) ?? UNKNOWN);
  for (
    const text of [
      "Schön ist besser als?",
      "\uFEFFBOM?",
      "BOM?",
      "\uFFFD?",
      "\uD800?",
    ]
  ) {
    const bytes = encoder.encode(text);
    assert.equal(ask(index, bytes), expected(bytes), JSON.stringify(text));
  }
  // An invalid byte decodes to U+FFFD: the same answer as the real thing.
  const invalid = new Uint8Array([0xff, 0x3f]);
  assert.equal(ask(index, invalid), "replacement.");
  const questions = [...table.keys()].map((q) => encoder.encode(q));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.constantFrom(...questions),
        fc.uint8Array({ maxLength: 40 }),
        fc.string().map((s) => encoder.encode(s + "?")),
      ),
      (bytes) => {
        assert.equal(ask(index, bytes), expected(bytes));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("AnswerIndex answers a table larger than its first slots", () => {
  const pairs = Array.from(
    { length: 300 },
    (_, i) => [`Question ${i}?`, `answer ${i}.`] as const,
  );
  const index = new AnswerIndex(makeTable(pairs), UNKNOWN);
  for (const [question, answer] of pairs) {
    assert.equal(ask(index, encoder.encode(question)), answer);
  }
  assert.equal(
    ask(index, encoder.encode("Question 300?")),
    "Error: unknown aphorism.",
  );
});
