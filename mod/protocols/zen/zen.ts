/**
 * The Zen protocol: questions in, aphorism endings out, byte-compatible with
 * the seeds' `client.py`. Answers to the questions of one read are written in
 * one write, in order.
 *
 * @module
 */
import {
  type ConnectionContext,
  type Handler,
  type Outcome,
  type Protocol,
  type ProtocolEnv,
  type Transport,
  writeFailure,
} from "../contract.ts";
import type { Config } from "../../config/settings.ts";
import { deadlines } from "../../util/deadline.ts";
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

  return async function serveZen(
    transport: Transport,
    context: ConnectionContext,
  ): Promise<void> {
    const started = performance.now();
    const framer = new ZenFramer(max_question);
    const buffer = new Uint8Array(Math.min(64 * 1024, max_question + 1024));
    let bytesIn = 0;
    let bytesOut = 0;
    let answered = 0;
    let outcome: Outcome = "closed normally";
    let waitingIdle = true;
    let timedOut = false;
    let drained = context.draining.aborted;

    const deadline = deadlines.create(() => {
      timedOut = true;
      transport.close();
    });
    const onDrain = () => {
      drained = true;
      // An idle connection closes now; a busy one after its answers.
      if (waitingIdle) transport.close();
    };
    context.draining.addEventListener("abort", onDrain);

    try {
      for (;;) {
        waitingIdle = !framer.hasPartial;
        if (drained && waitingIdle) {
          outcome = "draining";
          break;
        }
        deadline.arm(idleMs);
        let n: number | null;
        try {
          n = await transport.read(buffer);
        } catch {
          n = null;
        }
        deadline.disarm();
        if (n === null) {
          outcome = timedOut
            ? "idle timeout"
            : drained && !framer.hasPartial
            ? "draining"
            : framer.hasPartial
            ? "sent a partial question then closed"
            : "closed normally";
          break;
        }
        waitingIdle = false;
        bytesIn += n;
        const { questions, tooLong } = framer.push(buffer.subarray(0, n));
        const answers: Uint8Array[] = [];
        for (const question of questions) {
          const pending = doWork(work, work_ms);
          if (pending) await pending;
          answers.push(table.get(question) ?? UNKNOWN);
        }
        answered += questions.length;
        if (tooLong) answers.push(TOO_LONG);
        if (answers.length > 0) {
          const reply = concat(answers);
          try {
            await transport.write(reply);
          } catch (error) {
            outcome = writeFailure(error);
            break;
          }
          bytesOut += reply.length;
        }
        if (tooLong) {
          outcome = "question too long";
          break;
        }
      }
    } finally {
      context.draining.removeEventListener("abort", onDrain);
      deadline.dispose();
      transport.close();
      context.access({
        protocol: "zen",
        peer: context.info.peer,
        bytesIn,
        bytesOut,
        durationMs: performance.now() - started,
        outcome,
        requests: answered,
      });
    }
  };
}

/** The Zen protocol for the registry. */
export const zen: Protocol<ZenSettings> = {
  name: "zen",
  busyReply: BUSY,
  settings: (config) => config.zen,
  create: createZenHandler,
};
