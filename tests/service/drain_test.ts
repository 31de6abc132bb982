/**
 * Graceful stop (DESIGN §6): on SIGTERM the daemon stops accepting (new
 * clients are refused), idle connections close at once, answers in flight
 * are all delivered, and it exits 0 — then forces what is left after
 * `shutdown_timeout`; a second signal ends it at once. For every model
 * that has workers too: each worker, thread or process, drains.
 */
import assert from "node:assert/strict";
import { freePort, readUntil, send, startDaemon } from "../_helpers.ts";
import { delay } from "./_service.ts";

const WORK_MS = 1200;

function sleepyConfig(
  port: number,
  model: string,
  extra = "",
): string {
  return [
    "[[listener]]",
    `protocol = "zen"`,
    `address = "127.0.0.1:${port}"`,
    `model = "${model}"`,
    ...(model === "threads" || model === "processes") ? ["workers = 2"] : [],
    "[zen]",
    `work = "sleep"`,
    `work_ms = ${WORK_MS}`,
    extra,
  ].join("\n");
}

async function refused(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // Accepted by the kernel after all: it must not be served either.
    const reply = await readUntil(conn, ".", 1000).finally(() => conn.close());
    return reply.text === "";
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

for (
  const [model, clients] of [
    ["async", 4],
    ["iterative", 1],
    ["threads", 4],
    ["processes", 4],
  ] as const
) {
  Deno.test(`drain (${model}): SIGTERM delivers every answer in flight, refuses new clients, exits 0`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([], {
      config: sleepyConfig(port, model),
      ports: [port],
    });
    const conns = await Promise.all(
      Array.from(
        { length: clients },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      ),
    );
    // An idle connection too: it must be closed at once, not waited for.
    using idle = await Deno.connect({ hostname: "127.0.0.1", port });
    await Promise.all(conns.map((c) => send(c, "Beautiful is better than?")));
    const answers = conns.map((c) => readUntil(c, ".", WORK_MS * 5));
    await delay(WORK_MS / 3); // the answers are being worked on now
    daemon.kill("SIGTERM");
    await daemon.waitForLog(/SIGTERM: draining/);
    const idleEnd = await readUntil(idle, ".", WORK_MS * 5);
    assert.equal(idleEnd.text, "");
    assert.ok(idleEnd.closed, "the idle connection is closed by the drain");
    await delay(100);
    assert.ok(await refused(port), "a new client is refused while draining");
    const replies = await Promise.all(answers);
    for (const reply of replies) assert.equal(reply.text.trim(), "ugly.");
    for (const c of conns) c.close();
    const status = await daemon.exited;
    assert.equal(status.code, 0);
    assert.match(daemon.log, /stopped/);
    assert.doesNotMatch(daemon.log, /closed \d+ connections still open/);
  });
}

Deno.test("drain: shutdown_timeout forces what is left, still exit 0", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: sleepyConfig(port, "async").replace(
      `work_ms = ${WORK_MS}`,
      "work_ms = 20000",
    ) + "\n[limits]\nshutdown_timeout = 0.5\n",
    ports: [port],
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await send(conn, "Beautiful is better than?");
  await delay(200);
  const t0 = Date.now();
  daemon.kill("SIGTERM");
  const reply = await readUntil(conn, ".", 10_000);
  assert.equal(reply.text, "");
  assert.equal((await daemon.exited).code, 0);
  assert.ok(Date.now() - t0 < 10_000, "forced well before the work ends");
  assert.match(daemon.log, /closed 1 connections still open at the deadline/);
});

Deno.test("drain: a second SIGTERM exits at once", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: sleepyConfig(port, "async").replace(
      `work_ms = ${WORK_MS}`,
      "work_ms = 20000",
    ),
    ports: [port],
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await send(conn, "Beautiful is better than?");
  await delay(200);
  daemon.kill("SIGTERM");
  await daemon.waitForLog(/SIGTERM: draining/);
  // SIGUSR2 (koan reopen) during the drain reopens logs and does not stop it.
  daemon.kill("SIGUSR2");
  await daemon.waitForLog(/log file reopened/);
  daemon.kill("SIGINT");
  const status = await daemon.exited;
  assert.equal(status.code, 0);
  assert.match(daemon.log, /second signal \(SIGINT\): stopping now/);
});
