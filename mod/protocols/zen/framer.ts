/**
 * Zen framing: a question is the bytes up to and including `?`, with ASCII
 * whitespace around it ignored. Bytes may arrive split anywhere and several
 * questions may arrive at once; the framer hands them out in order.
 *
 * @module
 */

const QUESTION_MARK = 0x3f;

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** What one {@linkcode ZenFramer.push} found. */
export interface Frames {
  /** Complete questions, trimmed, each ending in `?`. */
  questions: string[];
  /** True when the pending question passed the limit: answer the error and close. */
  tooLong: boolean;
}

const decoder = new TextDecoder();

/** Splits a byte stream into questions. */
export class ZenFramer {
  #pending = new Uint8Array(0);
  #maxQuestion: number;

  /** `maxQuestion` bounds a question's length in bytes, `?` included. */
  constructor(maxQuestion: number) {
    this.#maxQuestion = maxQuestion;
  }

  /**
   * Adds received bytes and returns the questions they complete.
   *
   * @example Usage
   * ```ts
   * import { ZenFramer } from "./framer.ts";
   * const framer = new ZenFramer(1024);
   * const { questions } = framer.push(new TextEncoder().encode(" A?\nB?C"));
   * if (questions.join("|") !== "A?|B?") throw new Error("bad framing");
   * ```
   */
  push(chunk: Uint8Array): Frames {
    const questions: string[] = [];
    let data = chunk;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + chunk.length);
      data.set(this.#pending);
      data.set(chunk, this.#pending.length);
    }
    let start = 0;
    while (start < data.length) {
      while (start < data.length && isSpace(data[start]!)) start++;
      const mark = data.indexOf(QUESTION_MARK, start);
      if (mark < 0) break;
      if (mark + 1 - start > this.#maxQuestion) {
        this.#pending = new Uint8Array(0);
        return { questions, tooLong: true };
      }
      questions.push(decoder.decode(data.subarray(start, mark + 1)));
      start = mark + 1;
    }
    const rest = data.length - start;
    if (rest >= this.#maxQuestion) {
      this.#pending = new Uint8Array(0);
      return { questions, tooLong: true };
    }
    // Copy the remainder: `chunk` belongs to the caller's read buffer.
    this.#pending = rest === 0 ? new Uint8Array(0) : data.slice(start);
    return { questions, tooLong: false };
  }

  /** True while part of a question (not just whitespace) is waiting for its `?`. */
  get hasPartial(): boolean {
    return this.#pending.some((byte) => !isSpace(byte));
  }
}
