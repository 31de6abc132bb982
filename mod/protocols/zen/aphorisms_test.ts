import assert from "node:assert/strict";
import { BUILT_IN_APHORISMS, checkPair, parseAphorisms } from "./aphorisms.ts";

Deno.test("BUILT_IN_APHORISMS holds the seeds' three and all of PEP 20, each well-formed", () => {
  const table = new Map(BUILT_IN_APHORISMS);
  assert.equal(table.get("Beautiful is better than?"), "ugly.");
  assert.equal(table.get("Explicit is better than?"), "implicit.");
  assert.equal(table.get("Simple is better than?"), "complex.");
  assert.equal(BUILT_IN_APHORISMS.length, 19);
  for (const [question, answer] of BUILT_IN_APHORISMS) {
    assert.equal(checkPair(question, answer), undefined, question);
  }
});

Deno.test("parseAphorisms() reads a table file", async () => {
  const table = await parseAphorisms(
    '[aphorisms]\n"Why?" = "Because."\n',
    "t.toml",
  );
  assert.equal(new TextDecoder().decode(table.get("Why?")), "Because.");
});

Deno.test("parseAphorisms() rejects bad pairs, naming the file and key", async () => {
  const cases: [string, RegExp][] = [
    [
      '[aphorisms]\n"Why" = "Because."\n',
      /t\.toml: aphorisms\."Why": the question must end/,
    ],
    ['[aphorisms]\n"Why?" = "Because"\n', /the answer must end with "\."/],
    ['[aphorisms]\n"Why?" = "A. B."\n', /no other/],
    ['[aphorisms]\n"Why?" = 3\n', /must be a string/],
    ["[aphorisms]\n", /the table is empty/],
    ['[other]\n"Why?" = "Because."\n', /other: unknown key/],
    ["[aphorisms\n", /t\.toml:1:/],
  ];
  for (const [text, pattern] of cases) {
    await assert.rejects(() => parseAphorisms(text, "t.toml"), pattern);
  }
});
