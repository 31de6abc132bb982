/**
 * The Zen of Python (PEP 20) as questions and answers, and the table file
 * format that replaces it. A question is an aphorism's beginning ending in
 * `?`; its answer is the rest, ending in `.` (the seeds' `client.py` frames
 * answers on `.`, so no answer may contain another `.` or a `?`).
 *
 * @module
 */

/** Question → answer, both as the exact bytes on the wire. */
export type AphorismTable = ReadonlyMap<string, Uint8Array>;

/** PEP 20, split where the seeds split their three. */
export const BUILT_IN_APHORISMS: ReadonlyArray<readonly [string, string]> = [
  ["Beautiful is better than?", "ugly."],
  ["Explicit is better than?", "implicit."],
  ["Simple is better than?", "complex."],
  ["Complex is better than?", "complicated."],
  ["Flat is better than?", "nested."],
  ["Sparse is better than?", "dense."],
  ["Readability?", "counts."],
  ["Special cases aren't special enough to?", "break the rules."],
  ["Although practicality beats?", "purity."],
  ["Errors should never pass?", "silently."],
  ["Unless explicitly?", "silenced."],
  ["In the face of ambiguity, refuse the?", "temptation to guess."],
  ["There should be one-- and preferably only one --obvious?", "way to do it."],
  [
    "Although that way may not be obvious at first unless you're?",
    "Dutch.",
  ],
  ["Now is better than?", "never."],
  ["Although never is often better than?", "*right* now."],
  ["If the implementation is hard to explain, it's a?", "bad idea."],
  ["If the implementation is easy to explain, it may be a?", "good idea."],
  // PEP 20 ends in "!"; answers must end in "." for clients framing on it.
  ["Namespaces are one honking great idea --?", "let's do more of those."],
];

const encoder = new TextEncoder();

/** Builds a lookup table from question/answer pairs. */
export function makeTable(
  pairs: Iterable<readonly [string, string]>,
): AphorismTable {
  const table = new Map<string, Uint8Array>();
  for (const [question, answer] of pairs) {
    table.set(question, encoder.encode(answer));
  }
  return table;
}

/** The built-in table. */
export const BUILT_IN_TABLE: AphorismTable = makeTable(BUILT_IN_APHORISMS);

/** Checks one pair; returns why it is unusable, or undefined. */
export function checkPair(
  question: string,
  answer: string,
): string | undefined {
  if (!question.endsWith("?")) return 'the question must end with "?"';
  if (question.indexOf("?") !== question.length - 1) {
    return 'the question may hold only one "?"';
  }
  if (question.trim() !== question) {
    return "the question may not start or end with whitespace";
  }
  if (!answer.endsWith(".")) return 'the answer must end with "."';
  if (answer.indexOf(".") !== answer.length - 1 || answer.includes("?")) {
    return 'the answer may hold no other "." or "?"';
  }
  return undefined;
}

/**
 * Parses an aphorism table file:
 *
 * ```toml
 * [aphorisms]
 * "Beautiful is better than?" = "ugly."
 * ```
 *
 * @example Usage
 * ```ts
 * import { parseAphorisms } from "./aphorisms.ts";
 * const table = await parseAphorisms(
 *   '[aphorisms]\n"Why?" = "Because."\n',
 *   "t.toml",
 * );
 * if (!table.has("Why?")) throw new Error("missing");
 * ```
 *
 * The TOML parser is imported here, not before: only a table file needs it
 * (`koan inetd` with the built-in table never loads it).
 *
 * @throws {SyntaxError} naming the file, the key and the reason.
 */
export async function parseAphorisms(
  text: string,
  source: string,
): Promise<AphorismTable> {
  const { parse: parseToml, TomlError } = await import("smol-toml");
  let document: Record<string, unknown>;
  try {
    document = parseToml(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    throw new SyntaxError(
      `${source}:${error.line}:${error.column}: ${
        error.message.split("\n")[0]
      }`,
    );
  }
  for (const key of Object.keys(document)) {
    if (key !== "aphorisms") {
      throw new SyntaxError(`${source}: ${key}: unknown key`);
    }
  }
  const section = document.aphorisms;
  if (
    typeof section !== "object" || section === null || Array.isArray(section)
  ) {
    throw new SyntaxError(`${source}: aphorisms: must be a table`);
  }
  const pairs: [string, string][] = [];
  for (const [question, answer] of Object.entries(section)) {
    if (typeof answer !== "string") {
      throw new SyntaxError(
        `${source}: aphorisms."${question}": the answer must be a string`,
      );
    }
    const problem = checkPair(question, answer);
    if (problem) {
      throw new SyntaxError(`${source}: aphorisms."${question}": ${problem}`);
    }
    pairs.push([question, answer]);
  }
  if (pairs.length === 0) {
    throw new SyntaxError(`${source}: aphorisms: the table is empty`);
  }
  return makeTable(pairs);
}
