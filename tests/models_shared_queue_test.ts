/**
 * The pooled models' one shared accept queue, against the real daemon:
 * with `concurrency = 1`, a worker busy with a long-lived client must not
 * hold new clients (they go to an idle sibling), and a burst of clients
 * connecting at once is spread over every worker (what one worker's poll
 * took beyond its room is passed to another). With a socket per worker and
 * the kernel's 4-tuple hash, both fail about half the time per client.
 */
import assert from "node:assert/strict";
import {
  connect,
  freePort,
  listeningSockets,
  readUntil,
  send,
  startDaemon,
} from "./_helpers.ts";

function config(model: string, port: number, workers: number): string {
  return `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${port}"
model = "${model}"
workers = ${workers}
concurrency = 1
`;
}

async function answer(conn: Deno.Conn): Promise<string> {
  await send(conn, "Readability?");
  const { text } = await readUntil(conn, ".", 5000);
  return text;
}

for (const model of ["threads", "processes"]) {
  Deno.test(`${model}: a busy worker leaves new clients to an idle one`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([], {
      config: config(model, port, 2),
      ports: [port],
      timeoutMs: 30_000,
    });
    assert.equal(listeningSockets(port), 1, daemon.log);
    // Each round: one client keeps its worker busy; the next must still be
    // served, by the other worker, while the first is connected.
    for (let round = 0; round < 8; round++) {
      using busy = await connect(port);
      assert.equal(await answer(busy), "counts.");
      using next = await connect(port);
      assert.equal(await answer(next), "counts.", `round ${round}`);
    }
  });

  Deno.test(`${model}: a burst of clients is spread over every worker`, async () => {
    const port = freePort();
    const workers = 4;
    await using daemon = await startDaemon([], {
      config: config(model, port, workers),
      ports: [port],
      timeoutMs: 30_000,
    });
    for (let round = 0; round < 3; round++) {
      // All connect at once and stay connected: each needs its own worker.
      const conns = await Promise.all(
        Array.from({ length: workers }, () => connect(port)),
      );
      try {
        const answers = await Promise.all(conns.map(answer));
        assert.deepEqual(
          answers,
          Array(workers).fill("counts."),
          `round ${round}\n${daemon.log}`,
        );
      } finally {
        for (const conn of conns) conn.close();
      }
    }
  });
}
