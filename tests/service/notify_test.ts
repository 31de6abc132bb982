/**
 * sd_notify: a fake `$NOTIFY_SOCKET` bound by the test receives what
 * systemd would across start, reload and stop, and the watchdog pings.
 */
import assert from "node:assert/strict";
import { ask, freePort, startDaemon } from "../_helpers.ts";
import { FakeNotifySocket, tempDir } from "./_service.ts";

Deno.test("notify: READY, STATUS, RELOADING+MONOTONIC_USEC, READY, STOPPING across start, HUP and TERM", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const port = freePort();
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(
    config,
    `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${port}"\n`,
  );
  await using daemon = await startDaemon(["--config", config], {
    ports: [port],
    env: { NOTIFY_SOCKET: notify.path },
  });
  const ready = await notify.waitFor((f) => f.READY === "1");
  const first = notify.fields[ready]!;
  assert.equal(first.MAINPID, String(daemon.pid));
  assert.match(
    first.STATUS ?? "",
    /^1 listener, 0 connections, 1 worker, 0 requests, [\d.]+ req\/s, 0 restarts$/,
  );
  assert.deepEqual(await ask(port, ["Beautiful is better than?"]), ["ugly."]);

  const before = notify.messages.length;
  const t0 = performance.now();
  daemon.kill("SIGHUP");
  const reloading = await notify.waitFor((f) => f.RELOADING === "1", {
    after: before,
  });
  const usec = notify.fields[reloading]!.MONOTONIC_USEC;
  assert.match(usec ?? "", /^\d+$/, "MONOTONIC_USEC is sent with RELOADING=1");
  // CLOCK_MONOTONIC is seconds since boot here: compare with the kernel's
  // own reading of it where root may read /proc/timer_list.
  const timerList = await Deno.readTextFile("/proc/timer_list").catch(() => "");
  const now = /now at (\d+) nsecs/.exec(timerList)?.[1];
  if (now) {
    const nowUsec = BigInt(now) / 1000n;
    const sent = BigInt(usec!);
    const elapsed = BigInt(Math.ceil((performance.now() - t0) * 1000));
    assert.ok(
      sent <= nowUsec && nowUsec - sent <= elapsed + 1000n,
      `MONOTONIC_USEC ${sent} vs CLOCK_MONOTONIC ${nowUsec}`,
    );
  }
  await notify.waitFor((f) => f.READY === "1", { after: reloading + 1 });
  await daemon.waitForLog(/reloaded/);

  const beforeStop = notify.messages.length;
  daemon.kill("SIGTERM");
  const stopping = await notify.waitFor((f) => f.STOPPING === "1", {
    after: beforeStop,
  });
  assert.match(notify.fields[stopping]!.STATUS ?? "", /^draining: /);
  assert.equal((await daemon.exited).code, 0);
  // The order systemd expects, whatever STATUS/WATCHDOG came in between.
  const kinds = notify.fields.map((f) =>
    f.READY ? "READY" : f.RELOADING ? "RELOADING" : f.STOPPING ? "STOPPING" : ""
  ).filter(Boolean);
  assert.deepEqual(kinds, ["READY", "RELOADING", "READY", "STOPPING"]);
});

Deno.test("notify: a refused reload still ends with READY=1 and the daemon keeps serving", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const port = freePort();
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(
    config,
    `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${port}"\n`,
  );
  await using daemon = await startDaemon(["--config", config], {
    ports: [port],
    env: { NOTIFY_SOCKET: notify.path },
  });
  await notify.waitFor((f) => f.READY === "1");
  await Deno.writeTextFile(config, `[zen]\nmax_question = "lots"\n`);
  const before = notify.messages.length;
  daemon.kill("SIGHUP");
  const reloading = await notify.waitFor((f) => f.RELOADING === "1", {
    after: before,
  });
  await notify.waitFor((f) => f.READY === "1", { after: reloading + 1 });
  await daemon.waitForLog(/reload refused.*zen\.max_question/);
  assert.deepEqual(await ask(port, ["Beautiful is better than?"]), ["ugly."]);
});

Deno.test("notify: WATCHDOG=1 at half of WATCHDOG_USEC, and STATUS= follows the connection count", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: "400000" },
  });
  await notify.waitFor((f) => f.READY === "1");
  const first = await notify.waitFor((f) => f.WATCHDOG === "1");
  await notify.waitFor((f) => f.WATCHDOG === "1", { after: first + 1 });
  await notify.waitFor((f) => f.WATCHDOG === "1", { after: first + 2 });
  // An idle connection held open shows up in the next STATUS=.
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await notify.waitFor((f) => /1 connection,/.test(f.STATUS ?? ""));
  conn.close();
  await notify.waitFor((f) => /0 connections,/.test(f.STATUS ?? ""), {
    after: notify.messages.length,
  });
  void daemon;
});

Deno.test("notify: no WATCHDOG=1 when WATCHDOG_PID is another process", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const port = freePort();
  await using daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
    env: {
      NOTIFY_SOCKET: notify.path,
      WATCHDOG_USEC: "200000",
      WATCHDOG_PID: "1",
    },
  });
  await notify.waitFor((f) => f.READY === "1");
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(notify.fields.filter((f) => f.WATCHDOG).length, 0);
  void daemon;
});

Deno.test("notify: WATCHDOG=1 stops while a pooled listener has no worker ready", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const port = freePort();
  await using daemon = await startDaemon([
    "--zen",
    `127.0.0.1:${port}`,
    "--model",
    "processes",
    "--workers",
    "1",
  ], {
    ports: [port],
    env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: "200000" },
  });
  await notify.waitFor((f) => f.WATCHDOG === "1");
  // Kill the only worker: the pool respawns it with backoff, and until the
  // new one is ready the master must withhold the ping.
  const match = await daemon.waitForLog(/\[w1 (\d+)\]/);
  Deno.kill(Number(match[1]), "SIGKILL");
  await daemon.waitForLog(/watchdog ping withheld/);
  await daemon.waitForLog(/watchdog ping resumed/);
  const after = notify.messages.length;
  await notify.waitFor((f) => f.WATCHDOG === "1", { after });
});
