/**
 * Limits and the clean stop, on a daemon started with `max_connections = 2`,
 * `max_per_source = 1` and 300 ms of Zen work per answer (so an answer is
 * still in flight when SIGTERM arrives). Clients come from different
 * loopback addresses (127.0.0.x) to tell the two limits apart.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  childProcesses,
  connectFrom,
  eventually,
  processAlive,
  readAll,
  readUntil,
  send,
  type TestDaemon,
} from "../_helpers.ts";
import type { ModelUnderTest, Ports } from "./models.ts";
import { readResponses } from "./http_cases.ts";

/** Config sections of the limits daemon. */
export const LIMITS_SECTIONS = `
[limits]
max_connections = 2
max_per_source = 1
shutdown_timeout = 10
# iterative: the idle first client must hold the worker while the test
# checks that the second one waits (700 ms), well within serial_idle.
serial_idle = 5

[zen]
work = "sleep"
work_ms = 300
`;

const QUESTION = "Beautiful is better than?";
const BUSY = "Error: server busy.";

/** Asks one question on `conn`; resolves to the answer text. */
async function askOn(conn: Deno.Conn): Promise<string> {
  await send(conn, QUESTION);
  return (await readUntil(conn, ".")).text;
}

/** Asks from `address` until answered (a release reaches the limiter shortly after a close). */
async function eventuallyAnswered(port: number, address: string) {
  let conn: Deno.Conn | undefined;
  await eventually(async () => {
    conn?.close();
    conn = await connectFrom(port, address);
    const answer = await askOn(conn);
    if (answer === "ugly.") return true;
    assert.equal(answer, BUSY);
    return false;
  }, `an answer from ${address}`);
  return conn!;
}

/** The refusals: per source, per listener, for Zen, echo and HTTP. */
async function refusals(ports: Ports): Promise<void> {
  const a = await connectFrom(ports.zen, "127.0.0.1");
  assert.equal(await askOn(a), "ugly.");
  {
    using b = await connectFrom(ports.zen, "127.0.0.1");
    assert.equal(await readAll(b), BUSY, "max_per_source = 1");
  }
  const c = await connectFrom(ports.zen, "127.0.0.2");
  assert.equal(await askOn(c), "ugly.");
  {
    using d = await connectFrom(ports.zen, "127.0.0.3");
    assert.equal(await readAll(d), BUSY, "max_connections = 2");
  }
  a.close();
  const e = await eventuallyAnswered(ports.zen, "127.0.0.3");
  c.close();
  e.close();

  using e1 = await connectFrom(ports.echo, "127.0.0.1");
  await send(e1, "ping");
  assert.equal((await readUntil(e1, "ping")).text, "ping");
  {
    using e2 = await connectFrom(ports.echo, "127.0.0.1");
    await send(e2, "ping").catch(() => {});
    assert.equal(await readAll(e2), "", "echo refuses with a plain close");
  }

  using h1 = await connectFrom(ports.http, "127.0.0.1");
  await send(h1, "GET / HTTP/1.1\r\nHost: koan.test\r\n\r\n");
  assert.equal((await readResponses(h1, 1))[0]!.status, 200);
  {
    using h2 = await connectFrom(ports.http, "127.0.0.1");
    await send(h2, "GET / HTTP/1.1\r\nHost: koan.test\r\n\r\n").catch(() => {});
    assert.equal((await readResponses(h2, 1))[0]!.status, 503);
  }
}

/** One at a time: a second client waits in the backlog, then is served. */
async function oneAtATime(ports: Ports): Promise<void> {
  const a = await connectFrom(ports.zen, "127.0.0.1");
  assert.equal(await askOn(a), "ugly.");
  using b = await connectFrom(ports.zen, "127.0.0.2");
  await send(b, QUESTION);
  let answered = false;
  const answer = readUntil(b, ".").then((result) => {
    answered = true;
    return result.text;
  });
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(answered, false, "the second client must wait its turn");
  a.close();
  assert.equal(await answer, "ugly.");
}

/** Runs the limits case for `model`. */
export async function limitsCase(
  model: ModelUnderTest,
  ports: Ports,
): Promise<void> {
  if (model.oneAtATime) await oneAtATime(ports);
  else await refusals(ports);
}

/**
 * SIGTERM with an answer in flight: the answer arrives, the connection
 * closes, the daemon exits 0, and none of its child processes outlive it.
 */
export async function cleanStopCase(daemon: TestDaemon, ports: Ports) {
  using conn = await connectFrom(ports.zen, "127.0.0.4");
  await send(conn, QUESTION);
  // The answer takes 300 ms; stop in the middle of it.
  await new Promise((resolve) => setTimeout(resolve, 120));
  const children = childProcesses(daemon.pid).map((child) => child.pid);
  daemon.kill("SIGTERM");
  const { text } = await readUntil(conn, ".");
  assert.equal(text, "ugly.", "the in-flight answer is delivered");
  assert.equal(await readAll(conn), "", "then the connection closes");
  const status = await daemon.exited;
  assert.equal(status.code, 0, daemon.log);
  await eventually(
    () => children.every((pid) => !processAlive(pid)),
    `children ${children.join(", ")} gone after the daemon exited`,
  );
}
