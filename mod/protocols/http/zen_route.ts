/**
 * Zen over HTTP: `GET /zen?q=QUESTION` and `POST /zen` (the body is the
 * question) answer from the same table, with the same simulated work and
 * the same words as the Zen protocol: ASCII whitespace around the question
 * is ignored, an unknown question is answered `Error: unknown aphorism.`
 * (200, as Zen answers it rather than failing), a question longer than
 * `zen.max_question` gets 413 `Error: question too long.` and a close.
 * `Accept: application/json` turns the answer into
 * `{"question": ..., "answer": ...}`; the 413's `question` is `null`, as a
 * refusal never repeats what it refused. Errors (400) are the writer's
 * fixed pages.
 *
 * @module
 */
import { doWork } from "../zen/work.ts";
import { TOO_LONG, UNKNOWN } from "../zen/zen.ts";
import { type Reply, textReply } from "./reply.ts";
import type { HttpRequest } from "./request.ts";
import type { Route, RouteContext } from "./route.ts";
import { HttpError } from "./status.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const JSON_TYPE = "application/json";

function isAsciiSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/** Trims ASCII whitespace only, as the Zen framer does. */
function trimAscii(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isAsciiSpace(text.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** Whether `accept` lists application/json with a non-zero weight. */
export function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const range of accept.split(",")) {
    const [type = "", ...params] = range.split(";");
    if (type.trim().toLowerCase() !== JSON_TYPE) continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) =>
      p.startsWith("q=")
    );
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

async function questionOf(
  request: HttpRequest,
  context: RouteContext,
): Promise<string> {
  if (request.method === "POST") {
    return decoder.decode(await context.body());
  }
  const q = new URLSearchParams(request.query).get("q");
  if (q === null) {
    throw new HttpError(400, 'Missing the question: use "/zen?q=..."');
  }
  return q;
}

async function answer(
  request: HttpRequest,
  context: RouteContext,
): Promise<Reply> {
  const { env } = context;
  const question = trimAscii(await questionOf(request, context));
  const json = wantsJson(request.accept);
  if (encoder.encode(question).length > env.settings.zen.max_question) {
    const reply = json
      ? jsonReply(413, null, TOO_LONG)
      : textReply(413, TOO_LONG);
    return { ...reply, close: true };
  }
  const pending = doWork(env.settings.zen.work, env.settings.zen.work_ms);
  if (pending) await pending;
  const bytes = env.aphorisms.get(question) ?? UNKNOWN;
  return json ? jsonReply(200, question, bytes) : textReply(200, bytes);
}

function jsonReply(
  status: number,
  question: string | null,
  bytes: Uint8Array,
): Reply {
  return textReply(
    status,
    JSON.stringify({ question, answer: decoder.decode(bytes) }),
    JSON_TYPE,
  );
}

/** The `/zen` route. */
export const zenRoute: Route = {
  methods: ["GET", "POST"],
  handle: answer,
};
