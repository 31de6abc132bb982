/**
 * Reading koan's HTTP responses off the wire in tests: split a byte stream
 * into responses (Content-Length framing, interim 1xx skipped), and the
 * checks every corpus vector shares.
 *
 * @module
 */
import type { Case } from "./cases.ts";

/** One response as received. */
export interface WireResponse {
  status: number;
  /** Lowercase name → value (repeated fields joined with ", "). */
  headers: Map<string, string>;
  body: string;
  /** The response's bytes as text, head and body. */
  raw: string;
}

/** Options for {@linkcode parseResponses}. */
export interface ParseOptions {
  /** Whether response `index` has no body whatever its Content-Length says (HEAD). */
  bodiless?: ((index: number) => boolean) | undefined;
}

/**
 * Splits `text` (bytes as latin1 or UTF-8 text) into complete responses;
 * `rest` is what is left of an incomplete one.
 */
export function parseResponses(
  text: string,
  options: ParseOptions = {},
): { responses: WireResponse[]; rest: string } {
  const responses: WireResponse[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const lines = text.slice(at, end).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(lines[0] ?? "")?.[1]);
    if (!Number.isFinite(status)) {
      throw new SyntaxError(`Malformed status line "${lines[0]}"`);
    }
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(
        name,
        headers.has(name) ? `${headers.get(name)}, ${value}` : value,
      );
    }
    if (status >= 100 && status < 200) {
      at = end + 4; // interim response: no body
      continue;
    }
    const index = responses.length;
    const noBody = status === 204 || status === 304 ||
      (options.bodiless?.(index) ?? false);
    const length = noBody ? 0 : Number(headers.get("content-length") ?? 0);
    if (end + 4 + length > text.length) break;
    responses.push({
      status,
      headers,
      body: text.slice(end + 4, end + 4 + length),
      raw: text.slice(at, end + 4 + length),
    });
    at = end + 4 + length;
  }
  return { responses, rest: text.slice(at) };
}

/** How many responses a corpus vector should get. */
export function expectedCount(item: Case): number {
  return item.statuses?.length ?? 1;
}

/** Whether the first response of `item` is to a HEAD request. */
export function isHead(item: Case): boolean {
  return item.request.trimStart().startsWith("HEAD ");
}

/**
 * Checks responses against a vector; returns a list of problems (empty
 * when all is well) so a test can report every vector at once.
 */
export function problemsWith(
  item: Case,
  responses: WireResponse[],
  closed: boolean,
): string[] {
  const problems: string[] = [];
  const want = item.statuses ?? [item.status];
  const got = responses.map((r) => r.status);
  if (got.join(",") !== want.join(",")) {
    problems.push(
      `statuses ${got.join(",") || "none"}, want ${want.join(",")}`,
    );
  }
  const first = responses[0];
  if (first) {
    if (item.body !== undefined && first.body !== item.body) {
      problems.push(
        `body ${JSON.stringify(first.body)}, want ${JSON.stringify(item.body)}`,
      );
    }
    for (const [name, value] of Object.entries(item.headers ?? {})) {
      if (first.headers.get(name) !== value) {
        problems.push(`${name}: ${first.headers.get(name)}, want ${value}`);
      }
    }
    for (const response of responses) {
      if (!response.headers.has("date") || !response.headers.has("server")) {
        problems.push(`response ${response.status} lacks Date or Server`);
      }
      if (
        response.status >= 400 && response.headers.get("connection") !== "close"
      ) problems.push(`error ${response.status} without Connection: close`);
    }
  }
  if ((item.close ?? false) !== closed) {
    problems.push(
      closed ? "connection closed, want open" : "connection open, want closed",
    );
  }
  return problems;
}
