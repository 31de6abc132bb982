import assert from "node:assert/strict";
import { Notifier, notifySocketPath, watchdogInterval } from "./notify.ts";

Deno.test("notifySocketPath() maps @name to an abstract socket and keeps paths", () => {
  assert.equal(
    notifySocketPath("@/org/freedesktop/systemd1/notify"),
    "\0/org/freedesktop/systemd1/notify",
  );
  assert.equal(notifySocketPath("/run/systemd/notify"), "/run/systemd/notify");
  assert.equal(notifySocketPath("vsock:2:1234"), undefined);
});

Deno.test("watchdogInterval() is half of WATCHDOG_USEC, for this pid only", () => {
  assert.equal(watchdogInterval({ usec: "30000000" }, 7), 15000);
  assert.equal(watchdogInterval({ usec: "30000000", pid: "7" }, 7), 15000);
  assert.equal(watchdogInterval({ usec: "30000000", pid: "8" }, 7), undefined);
  assert.equal(watchdogInterval({}, 7), undefined);
  assert.equal(watchdogInterval({ usec: "0" }, 7), undefined);
  assert.equal(watchdogInterval({ usec: "soon" }, 7), undefined);
});

Deno.test("Notifier.fromEnv() is undefined without NOTIFY_SOCKET", () => {
  assert.equal(Notifier.fromEnv(() => undefined), undefined);
});

Deno.test("Notifier.send() delivers KEY=value lines in order to an abstract socket", async () => {
  const name = `koan-notify-test-${Deno.pid}`;
  const receiver = Deno.listenDatagram({
    transport: "unixpacket",
    path: `\0${name}`,
  });
  const notifier = Notifier.fromEnv((key) =>
    key === "NOTIFY_SOCKET" ? `@${name}` : undefined
  )!;
  try {
    void notifier.send({ READY: 1, STATUS: "two\nlines" });
    void notifier.send({ WATCHDOG: 1 });
    await notifier.flush();
    const decoder = new TextDecoder();
    const first = decoder.decode((await receiver.receive())[0]);
    const second = decoder.decode((await receiver.receive())[0]);
    assert.equal(first, "READY=1\nSTATUS=two lines");
    assert.equal(second, "WATCHDOG=1");
  } finally {
    notifier.close();
    receiver.close();
  }
});

Deno.test("Notifier.send() never rejects when the manager is gone", async () => {
  const notifier = Notifier.fromEnv(() => "/nonexistent/notify.sock")!;
  await notifier.send({ READY: 1 });
  notifier.close();
});
