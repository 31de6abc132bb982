/**
 * Clients that stop reading or reset mid-response: memory stays bounded,
 * the connection is closed after send_timeout, and service goes on.
 */
import assert from "node:assert/strict";
import { ask, connect, freePort, startDaemon } from "../_helpers.ts";

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

Deno.test("an echo client that never reads is closed after send_timeout with memory bounded", async () => {
  const port = freePort();
  const zenPort = freePort();
  await using daemon = await startDaemon(
    ["--echo", `127.0.0.1:${port}`, "--zen", `127.0.0.1:${zenPort}`],
    { ports: [port, zenPort], config: "[limits]\nsend_timeout = 1\n" },
  );
  const before = rssMiB(daemon.pid);
  using conn = await connect(port);
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  let sent = 0;
  let closedByServer = false;
  const deadline = Date.now() + 15_000;
  // Write and never read: the server's echo stalls once both buffers fill.
  while (Date.now() < deadline) {
    const timer = setTimeout(() => {}, 0);
    try {
      const write = conn.write(chunk);
      const outcome = await Promise.race([
        write.then(() => "ok"),
        new Promise((resolve) => setTimeout(() => resolve("stalled"), 3000)),
      ]);
      clearTimeout(timer);
      if (outcome === "stalled") {
        // Our own send buffer is full because the server stopped reading:
        // it must now close us within send_timeout.
        await write.catch(() => {});
        continue;
      }
      sent += chunk.length;
    } catch {
      clearTimeout(timer);
      closedByServer = true;
      break;
    }
  }
  assert.ok(
    closedByServer,
    `server never closed the stalled client (sent ${sent} bytes)`,
  );
  await daemon.waitForLog(/ echo in=\d+ out=\d+ .*send timeout/);
  const growth = rssMiB(daemon.pid) - before;
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);
  assert.deepEqual(await ask(zenPort, ["Readability?"]), ["counts."]);
});

Deno.test("a client that resets mid-answer is logged once and the daemon goes on", async () => {
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
  });
  for (let i = 0; i < 5; i++) {
    const conn = await connect(port);
    await conn.write(new TextEncoder().encode("Readability?".repeat(20_000)));
    // Closing with unread answers in our receive buffer sends a RST.
    conn.close();
  }
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const lines = daemon.log.split("\n").filter((line) =>
    line.includes("koan.access")
  );
  assert.equal(lines.length, 6, daemon.log);
  assert.doesNotMatch(daemon.log, /ERROR/);
});
