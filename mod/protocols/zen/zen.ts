/**
 * The Zen protocol: questions in, aphorism endings out, byte-compatible with
 * the seeds' `client.py`. Answers to the questions of one read are written in
 * one write, in order. Per read, nothing is allocated: questions are looked
 * up by their bytes, one answer is written as the table holds it, and
 * several are copied into a spare buffer shared by all connections.
 *
 * With `[http] request_rate` on (one setting for HTTP requests and Zen
 * questions, `../request_rate.ts`), each question takes a token from its
 * client's bucket; one past the limit is answered `Error: slow down.` in
 * its place, and the connection stays open.
 *
 * @module
 */
import type { Handler, Outcome, Protocol, ProtocolEnv } from "../contract.ts";
import { serveSession, type Session } from "../read_loop.ts";
import type { Config } from "../../config/settings.ts";
import { ZenFramer } from "./framer.ts";
import { AnswerIndex } from "./answer_index.ts";
import { doWork } from "./work.ts";
import {
  type BucketLimit,
  limitedCounter,
  peerAddress,
  type RequestGate,
  requestGate,
  requestLimit,
  type RequestRateSettings,
} from "../request_rate.ts";

const encoder = new TextEncoder();
/** Answer to a question not in the table. */
export const UNKNOWN = encoder.encode("Error: unknown aphorism.");
/** Answer to a question past `max_question`, before closing. */
export const TOO_LONG = encoder.encode("Error: question too long.");
/** Answer to a connection over the limits, before closing. */
export const BUSY = encoder.encode("Error: server busy.");
/** Answer to a question past `request_rate`; the connection stays open. */
export const SLOW_DOWN = encoder.encode("Error: slow down.");

/** Largest read of a pipelined batch. */
const BURST_SIZE = 64 * 1024;

/** Spare reply buffers, shared by every connection: only a batch writing now holds one. */
const replies: Uint8Array[] = [];
const REPLY_SIZE = 4096;
const REPLY_SPARES = 64;

function takeReply(size: number): Uint8Array {
  if (size <= REPLY_SIZE) return replies.pop() ?? new Uint8Array(REPLY_SIZE);
  return new Uint8Array(size);
}

function giveReply(buffer: Uint8Array): void {
  if (buffer.length === REPLY_SIZE && replies.length < REPLY_SPARES) {
    replies.push(buffer);
  }
}

/**
 * What Zen reads from the configuration: its own section, and
 * `[http] request_rate`/`request_burst` (absent: no limit).
 */
export type ZenSettings = Config["zen"] & Partial<RequestRateSettings>;

/** A connection's request limit: where to count, the bucket, and whose. */
interface QuestionLimit {
  gate: RequestGate;
  limit: BucketLimit;
  client: string;
}

/**
 * Creates the Zen handler for one configuration generation.
 *
 * @example Usage
 * ```ts
 * import { createZenHandler } from "./zen.ts";
 * import { BUILT_IN_TABLE } from "./aphorisms.ts";
 * import { buildConfig } from "../../config/load.ts";
 * const handler = createZenHandler({
 *   settings: (await buildConfig({})).config.zen,
 *   aphorisms: BUILT_IN_TABLE,
 *   state: { draining: false },
 * });
 * if (typeof handler !== "function") throw new Error("no handler");
 * ```
 */
export function createZenHandler(env: ProtocolEnv<ZenSettings>): Handler {
  const { max_question, idle_timeout, work, work_ms } = env.settings;
  const answers = new AnswerIndex(env.aphorisms, UNKNOWN);
  const limit = requestLimit({
    request_rate: env.settings.request_rate ?? 0,
    request_burst: env.settings.request_burst ?? 0,
  });
  const options = {
    protocol: "zen",
    idleMs: idle_timeout * 1000,
    // A question may arrive in pieces (the framer keeps them), so reads
    // need not hold a whole one; a pipelined burst gets the large buffer.
    burstSize: BURST_SIZE,
  };
  return (transport, context) =>
    serveSession(
      transport,
      context,
      new ZenSession(
        max_question,
        answers,
        work,
        work_ms,
        limit === undefined ? undefined : {
          gate: requestGate("zen"),
          limit,
          client: peerAddress(context.info.peer),
        },
      ),
      options,
    );
}

/**
 * One connection's questions: framed, answered in order, in one reply per
 * read. One answer is written as the table holds it; several are copied
 * into a spare buffer, taken back once written ({@linkcode ZenSession.sent}).
 */
class ZenSession implements Session {
  #framer: ZenFramer;
  #answers: AnswerIndex;
  #work: ZenSettings["work"];
  #workMs: number;
  #reply: Uint8Array | undefined;
  #limit: QuestionLimit | undefined;
  closeWith: Outcome | undefined;
  answered = 0;

  constructor(
    maxQuestion: number,
    answers: AnswerIndex,
    work: ZenSettings["work"],
    workMs: number,
    limit: QuestionLimit | undefined,
  ) {
    this.#framer = new ZenFramer(maxQuestion);
    this.#answers = answers;
    this.#work = work;
    this.#workMs = workMs;
    this.#limit = limit;
  }

  get hasPartial(): boolean {
    return this.#framer.hasPartial;
  }

  receive(
    buffer: Uint8Array,
    length: number,
  ): Uint8Array | Promise<Uint8Array> | undefined {
    const framer = this.#framer;
    framer.push(buffer, length);
    if (this.#limit !== undefined) return this.#receiveLimited(this.#limit);
    let questions = 0;
    let first: Uint8Array | undefined;
    let out: Uint8Array | undefined;
    let used = 0;
    for (;;) {
      let answer: Uint8Array;
      if (framer.next()) {
        answer = this.#answers.get(framer.bytes, framer.start, framer.end);
        questions++;
      } else if (framer.tooLong) {
        this.closeWith = "question too long";
        answer = TOO_LONG;
      } else break;
      if (first === undefined) first = answer;
      else {
        if (out === undefined) {
          out = takeReply(first.length + answer.length);
          out.set(first);
          used = first.length;
        } else if (used + answer.length > out.length) {
          const grown = new Uint8Array(2 * (used + answer.length));
          grown.set(out.subarray(0, used));
          giveReply(out);
          out = grown;
        }
        out.set(answer, used);
        used += answer.length;
      }
      if (answer === TOO_LONG) break;
    }
    this.answered += questions;
    this.#reply = out;
    const reply = out === undefined ? first : out.subarray(0, used);
    if (this.#work !== "none" && questions > 0) {
      return this.#workThen(questions, reply!);
    }
    return reply;
  }

  /**
   * {@linkcode receive} under `request_rate`: every question framed takes
   * a token, and those that get none are answered {@linkcode SLOW_DOWN}.
   * The tokens are asked for in order, all before any answer is built
   * (a `processes` child waits for its master's answers).
   */
  #receiveLimited(
    limit: QuestionLimit,
  ): Uint8Array | Promise<Uint8Array> | undefined {
    const framer = this.#framer;
    const answers: Uint8Array[] = [];
    const waits: (number | Promise<number>)[] = [];
    let pending = false;
    for (;;) {
      if (framer.next()) {
        answers.push(this.#answers.get(framer.bytes, framer.start, framer.end));
        const wait = limit.gate.take(limit.client, limit.limit);
        if (typeof wait !== "number") pending = true;
        waits.push(wait);
      } else if (framer.tooLong) {
        this.closeWith = "question too long";
        answers.push(TOO_LONG);
        break;
      } else break;
    }
    if (answers.length === 0) return undefined;
    if (!pending) return this.#limitedReply(answers, waits as number[]);
    return Promise.all(waits).then((done) => this.#limitedReply(answers, done));
  }

  /** Puts {@linkcode SLOW_DOWN} where a question got no token, then works and joins. */
  #limitedReply(
    answers: Uint8Array[],
    waits: readonly number[],
  ): Uint8Array | Promise<Uint8Array> {
    let questions = 0;
    let slowed = 0;
    for (let i = 0; i < waits.length; i++) {
      if (waits[i]! > 0) {
        answers[i] = SLOW_DOWN;
        slowed++;
      } else questions++;
    }
    if (slowed > 0) limitedCounter("zen").inc(slowed);
    this.answered += questions;
    let size = 0;
    for (const answer of answers) size += answer.length;
    const out = takeReply(size);
    let used = 0;
    for (const answer of answers) {
      out.set(answer, used);
      used += answer.length;
    }
    this.#reply = out;
    const reply = out.subarray(0, used);
    if (this.#work !== "none" && questions > 0) {
      return this.#workThen(questions, reply);
    }
    return reply;
  }

  /** The reply is written: its buffer is free for the next batch, anyone's. */
  sent(): void {
    if (this.#reply !== undefined) giveReply(this.#reply);
    this.#reply = undefined;
  }

  /** The simulated work (`zen.work`) runs once per question, before the reply goes out. */
  async #workThen(questions: number, reply: Uint8Array): Promise<Uint8Array> {
    for (let i = 0; i < questions; i++) {
      const pending = doWork(this.#work, this.#workMs);
      if (pending) await pending;
    }
    return reply;
  }
}

/** The Zen protocol for the registry. */
export const zen: Protocol<ZenSettings> = {
  name: "zen",
  busyReply: BUSY,
  settings: (config) => ({
    ...config.zen,
    request_rate: config.http.request_rate,
    request_burst: config.http.request_burst,
  }),
  create: createZenHandler,
};
