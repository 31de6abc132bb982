/**
 * `koan client ADDR [QUESTION...]`: the seeds' client.py. Sends each
 * question, reads its answer up to the closing `.`, prints both; with no
 * questions asks three random ones. Exits 1 if the server is unreachable,
 * closes early or answers an error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { clientAddress } from "../config/address.ts";
import { BUILT_IN_APHORISMS } from "../protocols/zen/aphorisms.ts";
import { ignoring } from "../util/errors.ts";
import { UsageError } from "../util/usage.ts";

const ANSWER_TIMEOUT_MS = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** {@linkcode clientAddress} with a bad address as a usage error. */
export function clientTarget(text: string): { hostname: string; port: number } {
  try {
    return clientAddress(text);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}

/** Reads from `conn` until the buffered text ends with `.`. */
async function readAnswer(
  conn: Deno.Conn,
  buffer: Uint8Array,
): Promise<string> {
  let text = "";
  const timer = setTimeout(() => conn.close(), ANSWER_TIMEOUT_MS);
  try {
    while (!text.endsWith(".")) {
      const n = await conn.read(buffer);
      if (n === null) {
        throw new Error(
          text
            ? `received "${text}", then the server closed`
            : "the server closed the connection",
        );
      }
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

function pick(count: number): string[] {
  const questions: string[] = [];
  for (let i = 0; i < count; i++) {
    const index = Math.floor(Math.random() * BUILT_IN_APHORISMS.length);
    questions.push(BUILT_IN_APHORISMS[index]![0]);
  }
  return questions;
}

/** Runs the client; resolves with the exit code. */
export async function runClient(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { random: { type: "string" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  const [addressText, ...given] = parsed.positionals;
  if (!addressText) throw new UsageError("koan client needs an ADDR");
  const address = clientTarget(addressText);
  let questions = given;
  if (parsed.values.random !== undefined) {
    const count = Number(parsed.values.random);
    if (!Number.isInteger(count) || count < 1) {
      throw new UsageError(
        `--random takes a count of 1 or more, got "${parsed.values.random}"`,
      );
    }
    questions = [...given, ...pick(count)];
  } else if (questions.length === 0) {
    questions = pick(3);
  }
  for (const question of questions) {
    if (!question.trim().endsWith("?")) {
      throw new UsageError(
        `"${question}" is not a question: it must end with "?"`,
      );
    }
  }
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ ...address, transport: "tcp" });
  } catch (error) {
    console.error(
      `koan client: cannot connect to ${addressText}: ${
        (error as Error).message
      }`,
    );
    return 1;
  }
  let failed = false;
  const buffer = new Uint8Array(4096);
  try {
    for (const question of questions) {
      await conn.write(encoder.encode(question.trim()));
      const answer = await readAnswer(conn, buffer);
      console.log(`${question.trim()} ${answer}`);
      if (answer.startsWith("Error:")) failed = true;
    }
  } catch (error) {
    console.error(`koan client: ${(error as Error).message}`);
    failed = true;
  } finally {
    // Closed already by the answer timeout: a second close() throws
    // BadResource.
    ignoring(Deno.errors.BadResource, () => conn.close());
  }
  return failed ? 1 : 0;
}
