/**
 * HTTP cases every model must pass, against the DESIGN §4 contract (`GET /`
 * answers `Hello, world!` with no docroot; keep-alive; pipelining; 404).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, readUntil, send } from "../_helpers.ts";
import type { Case } from "./cases.ts";

/** A parsed response. */
interface Response {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Splits `text` into whole responses (Content-Length framing); undefined while incomplete. */
function parseResponses(text: string, count: number): Response[] | undefined {
  const responses: Response[] = [];
  let rest = text;
  while (responses.length < count) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const [statusLine, ...lines] = rest.slice(0, end).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
    const length = Number(headers.get("content-length") ?? 0);
    if (rest.length < end + 4 + length) return undefined;
    responses.push({
      status: Number(statusLine!.split(" ")[1]),
      headers,
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}

/** Reads `count` responses from `conn`. */
export async function readResponses(
  conn: Deno.Conn,
  count: number,
): Promise<Response[]> {
  const { text } = await readUntil(
    conn,
    (t) => parseResponses(t, count) !== undefined,
  );
  const responses = parseResponses(text, count);
  assert.ok(responses, `expected ${count} responses, got:\n${text}`);
  return responses;
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: koan.test\r\n\r\n`;

/** HTTP/1.1 keep-alive, pipelining and a miss. */
export const HTTP_CASES: readonly Case[] = [
  {
    name: "http reuses one keep-alive connection",
    async run(ports) {
      using conn = await connect(ports.http);
      for (let i = 0; i < 3; i++) {
        await send(conn, get("/"));
        const [response] = await readResponses(conn, 1);
        assert.equal(response!.status, 200);
        assert.equal(response!.body, "Hello, world!");
      }
    },
  },
  {
    name: "http answers three pipelined requests in order",
    async run(ports) {
      using conn = await connect(ports.http);
      await send(conn, get("/") + get("/") + get("/"));
      const responses = await readResponses(conn, 3);
      assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
      assert.deepEqual(
        responses.map((r) => r.body),
        ["Hello, world!", "Hello, world!", "Hello, world!"],
      );
    },
  },
  {
    name: "http answers 404 for an unknown path",
    async run(ports) {
      using conn = await connect(ports.http);
      await send(conn, get("/no/such/page"));
      const [response] = await readResponses(conn, 1);
      assert.equal(response!.status, 404);
      assert.ok(response!.headers.has("date"), "Date header on every response");
    },
  },
];
