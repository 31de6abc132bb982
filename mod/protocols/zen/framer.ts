/**
 * Zen framing: a question is the bytes up to and including `?`, with ASCII
 * whitespace around it ignored. Bytes may arrive split anywhere and several
 * questions may arrive at once; the framer hands them out in order.
 *
 * Nothing is allocated per read: a question is handed out as a range of
 * bytes (in the caller's buffer, or in the framer's own when it spans
 * reads), and the unfinished tail of a read is copied into a buffer that
 * exists only while a question is pending and grows only as far as the
 * longest one.
 *
 * @module
 */

const QUESTION_MARK = 0x3f;
const EMPTY = new Uint8Array(0);
/** First size of the pending buffer; most questions are shorter. */
const PENDING_START = 128;
/** A pending buffer grown past this is dropped once its question is out. */
const PENDING_KEEP = 1024;

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * Splits a byte stream into questions. {@linkcode ZenFramer.push} a read,
 * then call {@linkcode ZenFramer.next} until it returns false; each true
 * leaves one question in `bytes[start, end)`, valid until the next call.
 *
 * @example Usage
 * ```ts
 * import { ZenFramer } from "./framer.ts";
 * const framer = new ZenFramer(1024);
 * const read = new TextEncoder().encode(" A?\nB?C");
 * framer.push(read, read.length);
 * const questions: string[] = [];
 * while (framer.next()) {
 *   questions.push(
 *     new TextDecoder().decode(framer.bytes.subarray(framer.start, framer.end)),
 *   );
 * }
 * if (questions.join("|") !== "A?|B?") throw new Error("bad framing");
 * if (!framer.hasPartial) throw new Error("C is waiting for its '?'");
 * ```
 */
export class ZenFramer {
  /** Where the question {@linkcode ZenFramer.next} found lies. */
  bytes: Uint8Array = EMPTY;
  /** Its first byte in {@linkcode ZenFramer.bytes}. */
  start = 0;
  /** One past its `?`. */
  end = 0;
  /**
   * Set by {@linkcode ZenFramer.next} when the pending question passed
   * the limit: answer the error and close. Cleared by the next push.
   */
  tooLong = false;
  #maxQuestion: number;
  #pending: Uint8Array | undefined;
  #pendingLength = 0;
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  #length = 0;

  /** `maxQuestion` bounds a question's length in bytes, `?` included. */
  constructor(maxQuestion: number) {
    this.#maxQuestion = maxQuestion;
  }

  /**
   * Starts on the first `length` bytes of `chunk` (the caller's read
   * buffer: only the unfinished tail is copied, by {@linkcode ZenFramer.next}).
   */
  push(chunk: Uint8Array, length: number = chunk.length): void {
    this.#chunk = chunk;
    this.#at = 0;
    this.#length = length;
    this.tooLong = false;
  }

  /**
   * Finds the next question of the pushed bytes. False once they hold no
   * more (the tail is kept for the next push), or when a question is too
   * long ({@linkcode ZenFramer.tooLong}).
   */
  next(): boolean {
    const chunk = this.#chunk;
    const length = this.#length;
    let at = this.#at;
    if (this.#pendingLength === 0) {
      while (at < length && isSpace(chunk[at]!)) at++;
    }
    let mark = at;
    while (mark < length && chunk[mark] !== QUESTION_MARK) mark++;
    const pending = this.#pendingLength;
    if (mark === length) {
      // No `?` yet: keep the tail (it starts with a non-space byte).
      this.#at = length;
      this.bytes = EMPTY;
      const rest = pending + length - at;
      if (rest >= this.#maxQuestion) return this.#overflow();
      if (at < length) this.#append(chunk, at, length);
      return false;
    }
    this.#at = mark + 1;
    if (pending + mark + 1 - at > this.#maxQuestion) return this.#overflow();
    if (pending === 0) {
      this.bytes = chunk;
      this.start = at;
      this.end = mark + 1;
      return true;
    }
    // The question began in an earlier read: finish it in the pending buffer.
    this.#append(chunk, at, mark + 1);
    const whole = this.#pending!;
    this.bytes = whole;
    this.start = 0;
    this.end = this.#pendingLength;
    this.#pendingLength = 0;
    if (whole.length > PENDING_KEEP) this.#pending = undefined;
    return true;
  }

  /** True while part of a question (not just whitespace) is waiting for its `?`. */
  get hasPartial(): boolean {
    return this.#pendingLength > 0;
  }

  #overflow(): false {
    this.#pendingLength = 0;
    this.#at = this.#length;
    this.bytes = EMPTY;
    if ((this.#pending?.length ?? 0) > PENDING_KEEP) this.#pending = undefined;
    this.tooLong = true;
    return false;
  }

  /** Copies `chunk[from, to)` after the pending bytes (never past `maxQuestion`). */
  #append(chunk: Uint8Array, from: number, to: number): void {
    const used = this.#pendingLength;
    const need = used + to - from;
    let pending = this.#pending;
    if (pending === undefined || pending.length < need) {
      const size = Math.min(
        this.#maxQuestion,
        Math.max(need, 2 * (pending?.length ?? PENDING_START / 2)),
      );
      const grown = new Uint8Array(size);
      if (pending !== undefined && used > 0) {
        grown.set(pending.subarray(0, used));
      }
      this.#pending = pending = grown;
    }
    pending.set(chunk.subarray(from, to), used);
    this.#pendingLength = need;
  }
}
