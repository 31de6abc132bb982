/**
 * The Zen protocol: questions in, aphorism endings out, byte-compatible with
 * the seeds' `client.py`. Answers to the questions of one read are written in
 * one write, in order.
 *
 * @module
 */
import type { Handler, Outcome, Protocol, ProtocolEnv } from "../contract.ts";
import { serveSession, type Session } from "../read_loop.ts";
import type { AphorismTable } from "./aphorisms.ts";
import type { Config } from "../../config/settings.ts";
import { ZenFramer } from "./framer.ts";
import { doWork } from "./work.ts";

const encoder = new TextEncoder();
/** Answer to a question not in the table. */
export const UNKNOWN = encoder.encode("Error: unknown aphorism.");
/** Answer to a question past `max_question`, before closing. */
export const TOO_LONG = encoder.encode("Error: question too long.");
/** Answer to a connection over the limits, before closing. */
export const BUSY = encoder.encode("Error: server busy.");

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** What Zen reads from the configuration: its own section. */
export type ZenSettings = Config["zen"];

/**
 * Creates the Zen handler for one configuration generation.
 *
 * @example Usage
 * ```ts
 * import { createZenHandler } from "./zen.ts";
 * import { BUILT_IN_TABLE } from "./aphorisms.ts";
 * import { buildConfig } from "../../config/load.ts";
 * const handler = createZenHandler({
 *   settings: buildConfig({}).config.zen,
 *   aphorisms: BUILT_IN_TABLE,
 *   state: { draining: false },
 * });
 * if (typeof handler !== "function") throw new Error("no handler");
 * ```
 */
export function createZenHandler(env: ProtocolEnv<ZenSettings>): Handler {
  const { max_question, idle_timeout, work, work_ms } = env.settings;
  const table = env.aphorisms;
  const idleMs = idle_timeout * 1000;
  const bufferSize = Math.min(64 * 1024, max_question + 1024);
  return (transport, context) =>
    serveSession(
      transport,
      context,
      new ZenSession(max_question, table, work, work_ms),
      { protocol: "zen", idleMs, bufferSize },
    );
}

/** One connection's questions: framed, answered in order, in one reply per read. */
class ZenSession implements Session {
  #framer: ZenFramer;
  #table: AphorismTable;
  #work: ZenSettings["work"];
  #workMs: number;
  closeWith: Outcome | undefined;
  answered = 0;

  constructor(
    maxQuestion: number,
    table: AphorismTable,
    work: ZenSettings["work"],
    workMs: number,
  ) {
    this.#framer = new ZenFramer(maxQuestion);
    this.#table = table;
    this.#work = work;
    this.#workMs = workMs;
  }

  get hasPartial(): boolean {
    return this.#framer.hasPartial;
  }

  receive(bytes: Uint8Array): Uint8Array | Promise<Uint8Array> | undefined {
    const { questions, tooLong } = this.#framer.push(bytes);
    if (tooLong) this.closeWith = "question too long";
    if (this.#work !== "none" && questions.length > 0) {
      return this.#workThenAnswer(questions, tooLong);
    }
    return this.#answer(questions, tooLong);
  }

  /** The simulated work (`zen.work`) runs once per question, before the answers. */
  async #workThenAnswer(
    questions: string[],
    tooLong: boolean,
  ): Promise<Uint8Array> {
    for (let i = 0; i < questions.length; i++) {
      const pending = doWork(this.#work, this.#workMs);
      if (pending) await pending;
    }
    return this.#answer(questions, tooLong)!;
  }

  #answer(questions: string[], tooLong: boolean): Uint8Array | undefined {
    const answers: Uint8Array[] = [];
    for (const question of questions) {
      answers.push(this.#table.get(question) ?? UNKNOWN);
    }
    this.answered += questions.length;
    if (tooLong) answers.push(TOO_LONG);
    return answers.length > 0 ? concat(answers) : undefined;
  }
}

/** The Zen protocol for the registry. */
export const zen: Protocol<ZenSettings> = {
  name: "zen",
  busyReply: BUSY,
  settings: (config) => config.zen,
  create: createZenHandler,
};
