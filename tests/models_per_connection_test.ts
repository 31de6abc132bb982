/**
 * The per-connection models leak nothing: after many clients, the daemon
 * holds the descriptors it started with and has no child left (every
 * process-per-connection child reaped, no zombie).
 */
import assert from "node:assert/strict";
import {
  ask,
  childProcesses,
  connect,
  eventually,
  fdCount,
  freePort,
  readAll,
  send,
  startDaemon,
} from "./_helpers.ts";

for (const model of ["thread-per-connection", "process-per-connection"]) {
  Deno.test(`${model}: no descriptor or child outlives its connection`, async () => {
    const port = freePort();
    await using daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      model,
    ], { ports: [port] });
    // Warm up once so lazily opened resources are counted in the baseline.
    assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
    await eventually(
      () => childProcesses(daemon.pid).length === 0,
      "no child after the warm-up",
    );
    const before = fdCount(daemon.pid);
    const clients = [];
    for (let i = 0; i < 12; i++) {
      clients.push((async () => {
        assert.deepEqual(await ask(port, ["Now is better than?"]), ["never."]);
      })());
    }
    // Clients that vanish mid-question must be cleaned up too.
    for (let i = 0; i < 4; i++) {
      const conn = await connect(port);
      await send(conn, "Now is better");
      conn.close();
    }
    // And one that is refused by nothing but sends nothing at all.
    {
      using idle = await connect(port);
      idle.closeWrite();
      assert.equal(await readAll(idle), "");
    }
    await Promise.all(clients);
    await eventually(
      () => childProcesses(daemon.pid).length === 0,
      "every connection child reaped",
    );
    await eventually(
      () => fdCount(daemon.pid) <= before,
      `descriptors back to ${before} (now ${fdCount(daemon.pid)})`,
    );
  });
}
