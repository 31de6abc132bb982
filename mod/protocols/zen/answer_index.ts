/**
 * The aphorism table looked up by the question's bytes, as the framer
 * hands them out: no string is decoded per question. Built once per
 * configuration generation.
 *
 * Answers are exactly those of `table.get(new TextDecoder().decode(bytes))`:
 * ASCII bytes decode one to one, so a byte match is a string match; any
 * other question (a byte of 0x80 or more, where decoding may replace or
 * drop bytes) falls back to decoding it.
 *
 * @module
 */
import type { AphorismTable } from "./aphorisms.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** FNV-1a over `bytes[start, end)`. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ bytes[i]!, FNV_PRIME);
  }
  return hash;
}

/**
 * Question bytes → answer bytes, open addressing over the table's keys.
 *
 * @example Usage
 * ```ts
 * import { AnswerIndex } from "./answer_index.ts";
 * import { BUILT_IN_TABLE } from "./aphorisms.ts";
 * const unknown = new TextEncoder().encode("Error: unknown aphorism.");
 * const index = new AnswerIndex(BUILT_IN_TABLE, unknown);
 * const question = new TextEncoder().encode("Readability?");
 * const answer = index.get(question, 0, question.length);
 * if (new TextDecoder().decode(answer) !== "counts.") throw new Error("bad");
 * ```
 */
export class AnswerIndex {
  #table: AphorismTable;
  #unknown: Uint8Array;
  #keys: (Uint8Array | undefined)[];
  #answers: Uint8Array[];
  #hashes: Int32Array;
  #mask: number;

  /** Indexes `table`; `unknown` answers what it does not hold. */
  constructor(table: AphorismTable, unknown: Uint8Array) {
    this.#table = table;
    this.#unknown = unknown;
    let slots = 8;
    while (slots < table.size * 2) slots *= 2;
    this.#mask = slots - 1;
    this.#keys = new Array<Uint8Array | undefined>(slots).fill(undefined);
    this.#answers = new Array<Uint8Array>(slots).fill(unknown);
    this.#hashes = new Int32Array(slots);
    for (const [question, answer] of table) {
      const key = encoder.encode(question);
      // A question the decoder would not give back byte for byte (a lone
      // surrogate, a leading BOM) is left to the decoding fallback.
      if (decoder.decode(key) !== question) continue;
      const hash = hashOf(key, 0, key.length);
      let slot = hash & this.#mask;
      while (this.#keys[slot] !== undefined) slot = (slot + 1) & this.#mask;
      this.#keys[slot] = key;
      this.#answers[slot] = answer;
      this.#hashes[slot] = hash;
    }
  }

  /** The answer to the question in `bytes[start, end)`. */
  get(bytes: Uint8Array, start: number, end: number): Uint8Array {
    let hash = FNV_OFFSET;
    let high = 0;
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      high |= byte;
      hash = Math.imul(hash ^ byte, FNV_PRIME);
    }
    const length = end - start;
    const keys = this.#keys;
    const mask = this.#mask;
    for (let slot = hash & mask;; slot = (slot + 1) & mask) {
      const key = keys[slot];
      if (key === undefined) break;
      if (
        this.#hashes[slot] === hash && key.length === length &&
        sameBytes(key, bytes, start)
      ) return this.#answers[slot]!;
    }
    if (high < 0x80) return this.#unknown;
    return this.#table.get(decoder.decode(bytes.subarray(start, end))) ??
      this.#unknown;
  }
}

function sameBytes(key: Uint8Array, bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < key.length; i++) {
    if (key[i] !== bytes[start + i]) return false;
  }
  return true;
}
