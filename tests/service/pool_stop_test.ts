/**
 * SIGTERM on a blocking pool (`threads` and `processes` with
 * `concurrency = 1`): the master holds connections a worker's poll (or its
 * own) accepted beyond the free slots until a worker has room. When a
 * drain begins, those go to the workers and are answered; none is held
 * until the pool is gone and then closed unanswered. A client still in
 * the kernel's queue (never accepted) is reset at once as the socket
 * closes, as with any server; either way no one waits for nothing.
 */
import assert from "node:assert/strict";
import { readUntil, send, startDaemon } from "../_helpers.ts";
import { freePort } from "../_helpers.ts";
import { delay } from "./_service.ts";

const WORK_MS = 1500;
const CLIENTS = 8;

for (const model of ["threads", "processes"] as const) {
  Deno.test(`pool stop (${model}, concurrency 1): clients the master holds at SIGTERM are answered, the rest refused at once`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([], {
      config: [
        "[[listener]]",
        `protocol = "zen"`,
        `address = "127.0.0.1:${port}"`,
        `model = "${model}"`,
        "workers = 2",
        "concurrency = 1",
        "[zen]",
        `work = "sleep"`,
        `work_ms = ${WORK_MS}`,
        "[limits]",
        "shutdown_timeout = 20",
        "[log]",
        "access = false",
      ].join("\n"),
      ports: [port],
      timeoutMs: 30_000,
    });
    // A burst: one poll takes them all, two get a worker, the master (or,
    // for threads, a worker's hand-back) holds the rest.
    const conns = await Promise.all(
      Array.from(
        { length: CLIENTS },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      ),
    );
    await Promise.all(
      conns.map((conn) => send(conn, "Beautiful is better than?")),
    );
    await delay(WORK_MS / 3); // two answers are being worked on
    const t0 = performance.now();
    daemon.kill("SIGTERM");
    const outcomes = await Promise.all(conns.map(async (conn) => {
      try {
        const reply = await readUntil(conn, ".", WORK_MS * 10);
        return {
          answered: reply.text === "ugly.",
          how: JSON.stringify(reply.text),
          at: performance.now() - t0,
        };
      } catch (error) {
        return {
          answered: false,
          how: (error as Error).message,
          at: performance.now() - t0,
        };
      } finally {
        conn.close();
      }
    }));
    const answered = outcomes.filter((o) => o.answered).length;
    console.log(
      `${model}: ${answered} of ${CLIENTS} answered; the rest: ${
        outcomes.filter((o) => !o.answered).map((o) =>
          `${o.how} at ${o.at.toFixed(0)} ms`
        ).join(", ") || "none"
      }`,
    );
    assert.ok(answered >= 2, "the answers in flight are delivered");
    for (const outcome of outcomes) {
      if (outcome.answered) continue;
      // Refused with the socket (reset at once), not held, then dropped
      // once the answers in flight are done.
      assert.ok(
        outcome.at < WORK_MS / 2,
        `a client ended unanswered ${
          outcome.at.toFixed(0)
        } ms after SIGTERM: ${outcome.how}`,
      );
    }
    assert.equal((await daemon.exited).code, 0, daemon.log);
  });
}
