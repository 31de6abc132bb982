/**
 * The real xinetd in the foreground for a test: an entry's text rewritten
 * only where a test must (loopback, a free port, this user; the server and
 * its config where the test says), and xinetd started on a generated
 * config that holds it. xinetd counts as started once its ports listen
 * (read from /proc/net/tcp, so no probe connection starts a koan that
 * would write lines of its own). And what a client of it sees: every byte
 * to the end of the connection, and how the connection ended.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  connect,
  listeningSockets,
  send,
  type TestDaemon,
} from "../_helpers.ts";
import { delay, spawnService, tool } from "./_service.ts";

/** Options for {@linkcode rewriteEntry}. */
export interface RewriteOptions {
  port: number;
  /** `server =`: left as the entry has it when not given. */
  server?: string;
  /** Replaces the entry's `--config` value, when given. */
  config?: string;
  /** Other attributes to set. */
  set?: Record<string, string>;
}

/** A `service { ... }` entry with attributes replaced (each must be there). */
export function rewriteEntry(text: string, options: RewriteOptions): string {
  const set: Record<string, string> = {
    port: String(options.port),
    bind: "127.0.0.1",
    user: Deno.env.get("USER") ?? "root",
    ...(options.server ? { server: options.server } : {}),
    ...options.set,
  };
  for (const [key, value] of Object.entries(set)) {
    const line = new RegExp(`^(\\s*${key}\\s*=).*$`, "m");
    assert.match(text, line, `the entry sets ${key}`);
    text = text.replace(line, `$1 ${value}`);
  }
  if (options.config !== undefined) {
    assert.match(text, /--config \S+/, "the entry names a config");
    text = text.replace(/--config \S+/, `--config ${options.config}`);
  }
  return text;
}

/** Starts xinetd on `entries` in `dir`; resolves once every port listens. */
export async function startXinetd(
  dir: string,
  entries: string[],
  ports: number[],
): Promise<TestDaemon> {
  const conf = `${dir}/xinetd.conf`;
  await Deno.writeTextFile(
    conf,
    `defaults\n{\n\tlog_type = FILE ${dir}/xinetd.log\n}\n${
      entries.join("\n")
    }`,
  );
  const xinetd = spawnService(tool("xinetd"), [
    "-dontfork",
    "-f",
    conf,
    "-pidfile",
    `${dir}/xinetd.pid`,
  ]);
  const deadline = Date.now() + 15_000;
  while (!ports.every((port) => listeningSockets(port) > 0)) {
    if (Date.now() > deadline) {
      await xinetd[Symbol.asyncDispose]();
      throw new Error(`xinetd never listened on ${ports}:\n${xinetd.log}`);
    }
    await delay(25);
  }
  return xinetd;
}

const decoder = new TextDecoder();

/** What a client read: every byte until the end, and how it ended. */
export interface Received {
  text: string;
  /** "eof": an orderly close (FIN); "reset": ECONNRESET; "timeout". */
  end: "eof" | "reset" | "timeout";
}

/**
 * Sends `request` on `conn` (or a new connection to a port), then reads to
 * the end of the connection (15 s at most).
 */
export async function exchange(
  to: number | Deno.TcpConn,
  request: string,
  options: { closeWrite?: boolean } = {},
): Promise<Received> {
  const conn = typeof to === "number" ? await connect(to) : to;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 15_000);
  let text = "";
  try {
    await send(conn, request);
    if (options.closeWrite) await conn.closeWrite();
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (timedOut) return { text, end: "timeout" };
        if (error instanceof Deno.errors.ConnectionReset) {
          return { text, end: "reset" };
        }
        throw error;
      }
      if (n === null) return { text, end: timedOut ? "timeout" : "eof" };
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}

/**
 * Checks that `text` is exactly one complete HTTP/1.1 response and
 * nothing else (no byte before its status line, none after its body),
 * and returns its status line, headers and body.
 */
export function oneResponse(
  text: string,
): { status: string; headers: Map<string, string>; body: string } {
  const split = text.indexOf("\r\n\r\n");
  assert.ok(split > 0, `a response head in ${JSON.stringify(text)}`);
  const [status, ...lines] = text.slice(0, split).split("\r\n");
  assert.match(status!, /^HTTP\/1\.1 \d{3} [A-Za-z ]+$/, text);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const match = /^([A-Za-z-]+): ([\x20-\x7e]*)$/.exec(line);
    assert.ok(match, `a header line: ${JSON.stringify(line)} in ${text}`);
    headers.set(match[1]!.toLowerCase(), match[2]!);
  }
  const body = text.slice(split + 4);
  assert.equal(
    new TextEncoder().encode(body).length,
    Number(headers.get("content-length")),
    `the body is Content-Length bytes and nothing follows: ${
      JSON.stringify(text)
    }`,
  );
  return { status: status!, headers, body };
}
