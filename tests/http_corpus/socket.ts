/**
 * Sending raw HTTP bytes to a live server and reading the responses back,
 * for integration tests: the corpus over real sockets.
 *
 * @module
 */
import { bytesOf, type Case } from "./cases.ts";
import {
  expectedCount,
  isHead,
  parseResponses,
  type WireResponse,
} from "./wire.ts";

/** What came back. */
export interface Exchange {
  responses: WireResponse[];
  /** The server closed the connection after the responses. */
  closed: boolean;
  /** Everything received, as latin1 text. */
  text: string;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/** Writes all of `bytes`, ignoring a peer that closed early (it may already have answered). */
async function sendAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    let written = 0;
    while (written < bytes.length) {
      written += await conn.write(bytes.subarray(written));
    }
  } catch {
    // EPIPE/ECONNRESET: the server refused early; read what it said.
  }
}

/**
 * Reads from `conn` until `count` responses are in and, when `untilClose`,
 * until the server closes (or `timeoutMs`).
 */
export async function readResponses(
  conn: Deno.Conn,
  options: {
    count: number;
    untilClose: boolean;
    timeoutMs?: number;
    bodiless?: (index: number) => boolean;
    initial?: string;
  },
): Promise<Exchange> {
  const buffer = new Uint8Array(64 * 1024);
  let text = options.initial ?? "";
  let closed = false;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, options.timeoutMs ?? 10_000);
  try {
    for (;;) {
      const parsed = parseResponses(text, { bodiless: options.bodiless });
      if (parsed.responses.length >= options.count && !options.untilClose) {
        return { responses: parsed.responses, closed: false, text };
      }
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        closed = true;
        break;
      }
      text += latin1(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  const { responses } = parseResponses(text, { bodiless: options.bodiless });
  return { responses, closed, text };
}

/**
 * Sends a corpus vector on a fresh connection. For vectors that keep the
 * connection, proves it is still open by asking `GET /healthz` after the
 * expected responses (the extra response is not returned).
 */
export async function sendCase(port: number, item: Case): Promise<Exchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await sendAll(conn, bytesOf(item.request));
    const count = expectedCount(item);
    const bodiless = (index: number) => index === 0 && isHead(item);
    if (item.close) {
      return await readResponses(conn, { count, untilClose: true, bodiless });
    }
    const first = await readResponses(conn, {
      count,
      untilClose: false,
      bodiless,
    });
    await sendAll(conn, bytesOf("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    const more = await readResponses(conn, {
      count: count + 1,
      untilClose: false,
      bodiless,
      initial: first.text,
    });
    const stillOpen = more.responses.length === count + 1 &&
      more.responses[count]!.status === 200;
    return {
      responses: first.responses.slice(0, count),
      closed: !stillOpen,
      text: first.text,
    };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
