/**
 * Refusing at once on SIGTERM (DESIGN §6: "stop accepting at once"), on a
 * daemon whose Zen answers take {@linkcode WORK_MS}, so one is in flight
 * for the whole test: from SIGTERM on, every listener's socket closes at
 * once — long before the answer in flight is delivered, not after the
 * drain as a socket held by a waiting master would — and stays closed; a
 * client that connected just after the signal is answered in full or let
 * go as the socket closes, never held and dropped at the end. The answer
 * in flight is still delivered.
 *
 * One client at a time probes the three ports in turn, at a falling rate
 * (4 ms apart at first, then twice as far each time, at most 500 ms):
 * every accepted connection costs a per-connection model a thread or a
 * process, and a stream of them faster than it can start those delays the
 * very stop being measured (its master blocks while it starts one, and
 * acts on the signal only once its accept queue is empty).
 *
 * @module
 */
import assert from "node:assert/strict";
import { readUntil, send, type TestDaemon } from "../_helpers.ts";
import type { Ports } from "./models.ts";

/** Zen work per answer: the in-flight answer outlasts the close by far. */
const WORK_MS = 4000;

/** The longest pause between two probes. */
const MAX_GAP_MS = 500;

/** How late after the close a client accepted just before it may end. */
const CLOSE_SLACK_MS = 1000;

/** Config sections of the stop daemon. */
export const STOP_SECTIONS = `
[limits]
shutdown_timeout = 10

[zen]
work = "sleep"
work_ms = ${WORK_MS}
`;

const QUESTION = "Beautiful is better than?";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a client that connected after SIGTERM fared. */
interface Probe {
  /** When it connected, ms after SIGTERM. */
  at: number;
  /** `answered`, `connected` (not asked), or how it ended without the answer. */
  how: string;
  /** When it ended, ms after SIGTERM. */
  endedAt: number;
}

/** Connects to `port`; undefined when the connect is refused. */
async function connectOrRefused(
  port: number,
): Promise<Deno.TcpConn | undefined> {
  try {
    return await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    // A connect that meets the socket as it closes is reset instead.
    if (
      error instanceof Deno.errors.ConnectionRefused ||
      error instanceof Deno.errors.ConnectionReset
    ) return undefined;
    throw error;
  }
}

/**
 * On an accepted probe: asks a Zen question when `ask` (else just
 * closes); says how that went.
 */
async function finish(
  conn: Deno.TcpConn,
  at: number,
  since: () => number,
  ask: boolean,
): Promise<Probe> {
  try {
    if (!ask) return { at, how: "connected", endedAt: since() };
    await send(conn, QUESTION);
    const reply = await readUntil(conn, ".", WORK_MS * 3);
    const how = reply.text === "ugly."
      ? "answered"
      : `${JSON.stringify(reply.text)}${
        reply.timedOut ? " (timed out)" : reply.closed ? " (closed)" : ""
      }`;
    return { at, how, endedAt: since() };
  } catch (error) {
    return { at, how: (error as Error).message, endedAt: since() };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by readUntil's timeout.
    }
  }
}

/** What probing one port found. */
interface Watch {
  port: number;
  /** ms from SIGTERM to the first refused connect; undefined if none was. */
  closedAt?: number;
  /** The clients it accepted before. */
  accepted: Promise<Probe>[];
}

/**
 * Probes `ports` in turn, one connect at a time at a falling rate (4, 8,
 * 16… ms apart, at most {@linkcode MAX_GAP_MS}), each until a connect to
 * it is refused, or until `done()` says to stop. Zen clients (`ask`) ask
 * a question.
 */
async function watchClose(
  ports: { port: number; ask: boolean }[],
  since: () => number,
  done: () => boolean,
): Promise<Watch[]> {
  const watches = ports.map(({ port }): Watch => ({ port, accepted: [] }));
  let gap = 4;
  for (let turn = 0; !done(); turn++) {
    const open = watches.filter((watch) => watch.closedAt === undefined);
    if (open.length === 0) break;
    const watch = open[turn % open.length]!;
    const at = since();
    const conn = await connectOrRefused(watch.port);
    if (!conn) watch.closedAt = at;
    else {
      const ask = ports.find(({ port }) => port === watch.port)!.ask;
      watch.accepted.push(finish(conn, at, since, ask));
    }
    await pause(gap);
    gap = Math.min(MAX_GAP_MS, gap * 2);
  }
  return watches;
}

/**
 * SIGTERM with a Zen answer in flight: every listener's socket closes
 * before that answer arrives (at once; the time is printed), connecting
 * is refused from then on, clients that connected just after the signal
 * are answered or let go at the close, the in-flight answer arrives, and
 * the daemon exits 0.
 */
export async function refuseAtOnceCase(
  daemon: TestDaemon,
  ports: Ports,
): Promise<void> {
  using inflight = await Deno.connect({
    hostname: "127.0.0.1",
    port: ports.zen,
  });
  await send(inflight, QUESTION);
  await pause(200); // the answer is being worked on
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  let answeredAt: number | undefined;
  const answer = readUntil(inflight, ".", WORK_MS * 4).finally(() =>
    answeredAt = since()
  );
  daemon.kill("SIGTERM");
  const watches = await watchClose(
    (["zen", "echo", "http"] as const).map((protocol) => ({
      port: ports[protocol],
      ask: protocol === "zen",
    })),
    since,
    () => answeredAt !== undefined || since() > WORK_MS * 4,
  );
  const report = watches.map((watch) =>
    `port ${watch.port}: refused ${
      watch.closedAt?.toFixed(1) ?? "never"
    } ms after SIGTERM, ${watch.accepted.length} accepted before`
  ).join("; ");
  console.log(report);
  for (const watch of watches) {
    assert.ok(
      watch.closedAt !== undefined &&
        (answeredAt === undefined || watch.closedAt < answeredAt),
      `port ${watch.port} still accepted when the answer in flight arrived ${
        answeredAt?.toFixed(0)
      } ms after SIGTERM (${report})\n${daemon.log}`,
    );
  }
  // Closed for good, while the answer is still being worked on.
  for (const watch of watches) {
    const late = await connectOrRefused(watch.port);
    late?.close();
    assert.equal(late, undefined, `port ${watch.port} accepts again`);
  }
  const reply = await answer;
  assert.equal(reply.text, "ugly.", "the answer in flight is delivered");
  for (const watch of watches) {
    for (const client of await Promise.all(watch.accepted)) {
      if (client.how === "answered" || client.how === "connected") continue;
      // Let go when the socket closed (the kernel resets what waits in a
      // closing socket's queue) — not held, then dropped at the end.
      assert.ok(
        client.endedAt <= watch.closedAt! + CLOSE_SLACK_MS,
        `a client that connected ${client.at.toFixed(0)} ms after SIGTERM ` +
          `ended unanswered ${
            client.endedAt.toFixed(0)
          } ms after it: ${client.how}`,
      );
    }
  }
  const status = await daemon.exited;
  assert.equal(status.code, 0, daemon.log);
}
