/**
 * Load for the robustness tests: a "normal" client that times sequential
 * HTTP and Zen requests on fresh connections, and closed-loop Zen clients
 * that count what was answered and what failed.
 *
 * @module
 */
import { connect, readUntil, send } from "../_helpers.ts";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Timings and failures of a normal client. */
export interface NormalStats {
  requests: number;
  failures: string[];
  /** Worst latency in ms (connect to complete answer). */
  worstMs: number;
  /** Worst latency per kind. */
  worstHttpMs: number;
  worstZenMs: number;
}

/** One `GET /` on a fresh connection; throws unless it is a 200 "Hello, world!". */
export async function httpGet(port: number, timeoutMs = 5000): Promise<void> {
  using conn = await connect(port);
  await send(
    conn,
    "GET / HTTP/1.1\r\nHost: koan.test\r\nConnection: close\r\n\r\n",
  );
  const { text, timedOut } = await readUntil(
    conn,
    (t) => t.endsWith("Hello, world!"),
    timeoutMs,
  );
  if (timedOut || !text.startsWith("HTTP/1.1 200 ")) {
    throw new Error(`GET / got ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/** One Zen question on a fresh connection; throws unless answered "counts.". */
export async function zenAsk(port: number, timeoutMs = 5000): Promise<void> {
  using conn = await connect(port);
  await send(conn, "Readability?");
  const { text, timedOut } = await readUntil(conn, ".", timeoutMs);
  if (timedOut || text !== "counts.") {
    throw new Error(`Zen got ${JSON.stringify(text)}`);
  }
}

/** Options for {@linkcode normalClient}. */
export interface NormalOptions {
  httpPort: number;
  zenPort: number;
  durationMs: number;
  /** Only `GET /`, no Zen questions. @default {false} */
  httpOnly?: boolean;
}

/**
 * Alternates `GET /` and a Zen question, one at a time, each on a fresh
 * connection, for `durationMs`; returns the timings.
 */
export async function normalClient(
  options: NormalOptions,
): Promise<NormalStats> {
  const stats: NormalStats = {
    requests: 0,
    failures: [],
    worstMs: 0,
    worstHttpMs: 0,
    worstZenMs: 0,
  };
  const end = Date.now() + options.durationMs;
  for (let i = 0; Date.now() < end && i < 100_000; i++) {
    const http = options.httpOnly === true || i % 2 === 0;
    const started = performance.now();
    try {
      if (http) await httpGet(options.httpPort);
      else await zenAsk(options.zenPort);
    } catch (error) {
      stats.failures.push(String(error));
    }
    const ms = performance.now() - started;
    stats.requests++;
    stats.worstMs = Math.max(stats.worstMs, ms);
    if (http) stats.worstHttpMs = Math.max(stats.worstHttpMs, ms);
    else stats.worstZenMs = Math.max(stats.worstZenMs, ms);
    await sleep(20);
  }
  return stats;
}

/** Counts of a closed-loop Zen client. */
export interface LoopStats {
  answered: number;
  failed: number;
  /** Connections opened. */
  connections: number;
  errors: string[];
  /** When each failure happened (`performance.now()`). */
  failedAt: number[];
}

/**
 * A closed-loop Zen client: asks on one connection until it fails, then
 * reconnects; stops when `stop` is aborted. `questionsPerConnection`
 * bounds how long a connection lives.
 */
export async function zenLoop(
  options: {
    port: number;
    stop: AbortSignal;
    questionsPerConnection?: number;
    timeoutMs?: number;
  },
): Promise<LoopStats> {
  const stats: LoopStats = {
    answered: 0,
    failed: 0,
    connections: 0,
    errors: [],
    failedAt: [],
  };
  const perConnection = options.questionsPerConnection ?? 20;
  for (let round = 0; !options.stop.aborted && round < 100_000; round++) {
    let conn: Deno.TcpConn;
    try {
      conn = await connect(options.port);
    } catch (error) {
      stats.failed++;
      stats.failedAt.push(performance.now());
      stats.errors.push(`connect: ${error}`);
      await sleep(50);
      continue;
    }
    stats.connections++;
    try {
      for (let i = 0; i < perConnection && !options.stop.aborted; i++) {
        await send(conn, "Readability?");
        const { text, timedOut } = await readUntil(
          conn,
          ".",
          options.timeoutMs ?? 5000,
        );
        if (timedOut || text !== "counts.") {
          throw new Error(`answer ${JSON.stringify(text)}`);
        }
        stats.answered++;
      }
    } catch (error) {
      stats.failed++;
      stats.failedAt.push(performance.now());
      stats.errors.push(String(error));
    } finally {
      try {
        conn.close();
      } catch { /* closed by readUntil's timeout */ }
    }
  }
  return stats;
}
