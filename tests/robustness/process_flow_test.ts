/**
 * `process-per-connection` relays a client with flow control end to end: a
 * client that pipelines requests and never reads the answers stalls the
 * master's reads (the child's input is full) and the child's (its output
 * is backed up), so neither process's memory grows with what the client
 * sends, and the connection ends by `send_timeout`.
 */
import assert from "node:assert/strict";
import {
  childProcesses,
  connect,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
} from "../_helpers.ts";

const SEND_TIMEOUT_S = 2;
const TOTAL = 100 * 1024 * 1024;
const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/** A write pending this long means the server neither reads nor closes us. */
const STUCK_MS = 4 * SEND_TIMEOUT_S * 1000;

function rssMiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch (error) {
    // The process has exited (its /proc entry is gone).
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

Deno.test("process-per-connection: a pipelining client that never reads keeps both processes' memory bounded", async () => {
  const port = freePort();
  await using daemon = await startDaemon(
    ["--http", `127.0.0.1:${port}`, "--model", "process-per-connection"],
    {
      ports: [port],
      config:
        `[limits]\nsend_timeout = ${SEND_TIMEOUT_S}\n[log]\naccess = false\n`,
    },
  );
  using conn = await connect(port);
  // One request answered: the child is up and has served, its idle size.
  await send(conn, REQUEST);
  const first = await readUntil(conn, (text) => text.includes("\r\n\r\n"));
  assert.match(first.text, /^HTTP\/1\.1 /);
  await eventually(
    () => childProcesses(daemon.pid).length === 1,
    "one connection child",
  );
  const child = childProcesses(daemon.pid)[0]!.pid;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const childIdle = rssMiB(child)!;
  const masterIdle = rssMiB(daemon.pid)!;
  let childPeak = childIdle;
  let masterPeak = masterIdle;
  const sampler = setInterval(() => {
    childPeak = Math.max(childPeak, rssMiB(child) ?? 0);
    masterPeak = Math.max(masterPeak, rssMiB(daemon.pid) ?? 0);
  }, 50);

  const chunk = new TextEncoder().encode(REQUEST.repeat(2048));
  let sent = 0;
  let lastWrite = Date.now();
  let closedAt: number | undefined;
  const deadline = Date.now() + 25_000;
  try {
    while (sent < TOTAL && Date.now() < deadline) {
      const write = send(conn, chunk).then(() => "written", (error) => {
        // The server closed us: a reset or a broken pipe.
        if (
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.BrokenPipe
        ) return "closed";
        throw error;
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        write,
        new Promise((resolve) =>
          timer = setTimeout(resolve, STUCK_MS, "stuck")
        ),
      ]);
      clearTimeout(timer);
      if (outcome === "stuck") break;
      if (outcome === "closed") {
        closedAt = Date.now();
        break;
      }
      sent += chunk.length;
      lastWrite = Date.now();
    }
  } finally {
    clearInterval(sampler);
  }
  const closing = closedAt === undefined
    ? "not closed"
    : `closed ${
      ((closedAt - lastWrite) / 1000).toFixed(1)
    } s after the last write`;
  const figures = `sent ${(sent / 2 ** 20).toFixed(1)} MiB, ${closing}; ` +
    `child RSS ${childIdle.toFixed(1)} → ${childPeak.toFixed(1)} MiB, ` +
    `master ${masterIdle.toFixed(1)} → ${masterPeak.toFixed(1)} MiB`;
  console.log(figures);
  assert.ok(childPeak - childIdle < 64, `the child's memory grew: ${figures}`);
  assert.ok(
    masterPeak - masterIdle < 64,
    `the master's memory grew: ${figures}`,
  );
  assert.ok(sent < TOTAL, `the server read everything it was sent: ${figures}`);
  assert.ok(
    closedAt !== undefined,
    `the stalled client was not closed: ${figures}`,
  );
  assert.ok(
    closedAt - lastWrite < 2 * SEND_TIMEOUT_S * 1000 + 2000,
    `the stalled client was closed late: ${figures}`,
  );
  await eventually(
    () => childProcesses(daemon.pid).length === 0,
    "the connection child reaped",
  );
});
