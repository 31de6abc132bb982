/**
 * `[limits] drain_delay` and `drain_probes` end to end: on SIGTERM `/readyz`
 * turns 503 while koan still accepts and serves (`/healthz` stays 200),
 * until `/readyz` was probed `drain_probes` times or the delay passed; then
 * it stops accepting, drains and exits 0, naming in its log what ended the
 * wait. Under an in-isolate model and a process pool (whose workers report
 * probes to the master). And the other times `/readyz` is 503: while a
 * reload moves a listener to another model (with `drain_delay`, the old
 * one stays until probed), and while a pooled listener has no worker ready.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  connect,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
} from "./_helpers.ts";

async function get(
  port: number,
  path: string,
): Promise<{ status: number; body: string }> {
  using conn = await connect(port);
  await send(
    conn,
    `GET ${path} HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n`,
  );
  const { text } = await readUntil(conn, () => false, 5000);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

async function refused(port: number): Promise<boolean> {
  try {
    const conn = await connect(port);
    conn.close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return true;
    throw error;
  }
}

async function serve(model: string, limits: string) {
  const port = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "http"
address = "127.0.0.1:${port}"
model = "${model}"
workers = 2

[limits]
${limits}
`,
    ports: [port],
  });
  return { port, daemon };
}

for (const model of ["async", "processes"]) {
  Deno.test(`drain_delay (${model}): /readyz 503 while still accepting, drains after drain_probes probes`, async () => {
    const { port, daemon } = await serve(
      model,
      "drain_delay = 5\ndrain_probes = 2\nshutdown_timeout = 5",
    );
    await using _ = daemon;
    assert.deepEqual(await get(port, "/healthz"), { status: 200, body: "ok" });
    assert.deepEqual(await get(port, "/readyz"), {
      status: 200,
      body: "ready",
    });
    const started = Date.now();
    daemon.kill("SIGTERM");
    await daemon.waitForLog(/SIGTERM: not ready/);
    // Pool workers hear of it by message: the first 503 may lag a moment.
    // Each 503 counts: this is the first of the two probes.
    await eventually(
      async () => (await get(port, "/readyz")).body === "not ready",
      "/readyz answering 503",
    );
    assert.deepEqual(await get(port, "/healthz"), { status: 200, body: "ok" });
    assert.deepEqual(await get(port, "/"), {
      status: 200,
      body: "Hello, world!",
    });
    assert.equal(await refused(port), false, "still accepting");
    assert.equal((await get(port, "/readyz")).status, 503);
    await daemon.waitForLog(/drain: readyz probed 2 times/);
    await eventually(() => refused(port), "connects refused", 1000);
    assert.ok(Date.now() - started < 4000, "well before drain_delay");
    assert.equal((await daemon.exited).code, 0, daemon.log);
    assert.doesNotMatch(daemon.log, /drain_delay 5 s passed/);
  });

  Deno.test(`drain_delay (${model}): with no probe the wait ends after drain_delay`, async () => {
    const { port, daemon } = await serve(
      model,
      "drain_delay = 1\ndrain_probes = 2",
    );
    await using _ = daemon;
    const started = Date.now();
    daemon.kill("SIGTERM");
    await daemon.waitForLog(/SIGTERM: not ready/);
    assert.equal(await refused(port), false, "still accepting");
    await daemon.waitForLog(/drain: drain_delay 1 s passed/);
    assert.ok(Date.now() - started >= 900, "waited the delay");
    await eventually(() => refused(port), "connects refused", 1000);
    assert.equal((await daemon.exited).code, 0, daemon.log);
    assert.doesNotMatch(daemon.log, /readyz probed/);
  });
}

Deno.test("drain_delay = 0: /readyz is 200, then SIGTERM refuses at once", async () => {
  const { port, daemon } = await serve("async", "");
  await using _ = daemon;
  assert.equal((await get(port, "/readyz")).status, 200);
  daemon.kill("SIGTERM");
  await daemon.waitForLog(/SIGTERM: draining/);
  assert.ok(await refused(port));
  assert.equal((await daemon.exited).code, 0, daemon.log);
  assert.doesNotMatch(daemon.log, /not ready|drain: /);
});

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Replaces `from` with `to` in the daemon's config file (for a SIGHUP). */
async function edit(
  daemon: { configPath?: string | undefined },
  from: string,
  to: string,
): Promise<void> {
  const config = await Deno.readTextFile(daemon.configPath!);
  assert.ok(config.includes(from), `the config has ${from}`);
  await Deno.writeTextFile(daemon.configPath!, config.replace(from, to));
}

/** `/readyz` statuses seen every 20 ms until `done` resolves. */
async function pollReadyz(port: number, done: Promise<unknown>) {
  const seen: number[] = [];
  let finished = false;
  done.finally(() => finished = true);
  while (!finished) {
    seen.push((await get(port, "/readyz")).status);
    await delay(20);
  }
  return seen;
}

Deno.test("reload moving a listener to another model: /readyz is 503 during the move, 200 after", async () => {
  const { port, daemon } = await serve("async", "");
  await using _ = daemon;
  assert.equal((await get(port, "/readyz")).status, 200);
  await edit(daemon, 'model = "async"', 'model = "processes"');
  daemon.kill("SIGHUP");
  const seen = await pollReadyz(port, daemon.waitForLog(/reloaded from/));
  assert.ok(seen.includes(503), `a 503 during the move: ${seen}`);
  assert.equal((await get(port, "/readyz")).status, 200, "ready after it");
  // The 503s were not a drain: koan still serves, and stops normally.
  assert.equal((await get(port, "/healthz")).status, 200);
  daemon.kill("SIGTERM");
  assert.equal((await daemon.exited).code, 0, daemon.log);
  assert.doesNotMatch(daemon.log, /not ready|readyz probed/);
});

Deno.test("reload in place (only a limit changes): /readyz stays 200", async () => {
  const { port, daemon } = await serve("async", "max_connections = 500");
  await using _ = daemon;
  await edit(daemon, "max_connections = 500", "max_connections = 600");
  daemon.kill("SIGHUP");
  const seen = await pollReadyz(port, daemon.waitForLog(/reloaded from/));
  assert.ok(seen.length > 0);
  assert.deepEqual([...new Set(seen)], [200]);
});

Deno.test("reload moving a listener with drain_delay: the old one is retired only once /readyz was probed drain_probes times", async () => {
  const { port, daemon } = await serve(
    "async",
    "drain_delay = 5\ndrain_probes = 2",
  );
  await using _ = daemon;
  await edit(daemon, 'model = "async"', 'model = "processes"');
  const sent = Date.now();
  daemon.kill("SIGHUP");
  // No probe yet: the move waits (the new workers serve meanwhile).
  await delay(1500);
  assert.doesNotMatch(daemon.log, /reloaded from/);
  assert.equal((await get(port, "/readyz")).status, 503);
  assert.equal((await get(port, "/readyz")).status, 503);
  await daemon.waitForLog(/reload: readyz probed 2 times while not ready/);
  await daemon.waitForLog(/reloaded from/);
  assert.ok(Date.now() - sent < 5000, "ended by the probes, not the delay");
  assert.equal((await get(port, "/readyz")).status, 200);
});

Deno.test("/readyz is 503 while a pooled listener has no worker ready, 200 once one is back", async () => {
  const http = freePort();
  const zen = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "http"
address = "127.0.0.1:${http}"
model = "async"

[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "processes"
workers = 1
`,
    ports: [http, zen],
  });
  await using _ = daemon;
  assert.equal((await get(http, "/readyz")).status, 200);
  const report = JSON.parse((await get(http, "/status.json")).body);
  Deno.kill(report.listeners[1].workers[0].pid, "SIGKILL");
  // Polled until the replacement (w2) accepts.
  const seen = await pollReadyz(http, daemon.waitForLog(/w2 accepting on/));
  await eventually(
    async () => (await get(http, "/readyz")).status === 200,
    "ready again",
    5000,
  );
  assert.ok(seen.includes(503), `a 503 while no worker was ready: ${seen}`);
});
