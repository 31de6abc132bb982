import assert from "node:assert/strict";
import { HANDLED_SIGNALS, type HandledSignal, SignalQueue } from "./signals.ts";

/** Resolves with `value` after every callback already queued for this turn. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** "pending" when `promise` has not settled after a turn of the event loop. */
async function settledOrPending<T>(
  promise: Promise<T>,
): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<"pending">((resolve) =>
    timer = setTimeout(() => resolve("pending"), 0)
  );
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Awaits `promise`, failing after `ms`. Signal listeners do not keep the
 * event loop alive; this timer does while a signal is on its way.
 */
async function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`Not settled in ${ms} ms`)), ms)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Keeps `signal` from taking the default action (ending this test run)
 * while the queue under test is not listening; resolves on each delivery.
 */
function guard(signal: Deno.Signal): {
  delivered(): Promise<void>;
  [Symbol.dispose](): void;
} {
  let wake: (() => void) | undefined;
  const listener = () => wake?.();
  Deno.addSignalListener(signal, listener);
  return {
    delivered: () => new Promise<void>((resolve) => wake = resolve),
    [Symbol.dispose]: () => Deno.removeSignalListener(signal, listener),
  };
}

Deno.test("HANDLED_SIGNALS names the signals the daemon answers, and not SIGUSR2", () => {
  assert.deepEqual([...HANDLED_SIGNALS], [
    "SIGTERM",
    "SIGINT",
    "SIGQUIT",
    "SIGHUP",
    "SIGUSR1",
    "SIGTTIN",
    "SIGTTOU",
  ]);
  assert.equal(
    (HANDLED_SIGNALS as readonly string[]).includes("SIGUSR2"),
    false,
  );
});

Deno.test("SignalQueue.next() returns signals in arrival order", async () => {
  const queue = new SignalQueue();
  queue.push("SIGHUP");
  queue.push("SIGUSR1");
  queue.push("SIGTERM");
  queue.push("SIGHUP");
  const got: HandledSignal[] = [];
  for (let i = 0; i < 4; i++) got.push(await queue.next());
  assert.deepEqual(got, ["SIGHUP", "SIGUSR1", "SIGTERM", "SIGHUP"]);
});

Deno.test("SignalQueue.next() waits until a signal is pushed", async () => {
  const queue = new SignalQueue();
  const next = queue.next();
  assert.equal(await settledOrPending(next), "pending");
  queue.push("SIGTTIN");
  assert.equal(await next, "SIGTTIN");
});

Deno.test("SignalQueue.next() keeps every signal pushed while it waits", async () => {
  const queue = new SignalQueue();
  const first = queue.next();
  await tick();
  queue.push("SIGTTIN");
  queue.push("SIGTTOU");
  assert.equal(await first, "SIGTTIN");
  assert.equal(await settledOrPending(queue.next()), "SIGTTOU");
  assert.equal(await settledOrPending(queue.next()), "pending");
});

Deno.test("SignalQueue.listen() queues a real SIGHUP sent to this process", async () => {
  // The guard keeps a queue that failed to listen from ending the run.
  using _hup = guard("SIGHUP");
  const queue = new SignalQueue();
  queue.listen(["SIGHUP"]);
  try {
    Deno.kill(Deno.pid, "SIGHUP");
    assert.equal(await within(queue.next()), "SIGHUP");
  } finally {
    queue.close();
  }
});

Deno.test("SignalQueue.listen() listens for every handled signal by default", async () => {
  // SIGTTIN would stop this process if nobody listened.
  using _ttin = guard("SIGTTIN");
  const queue = new SignalQueue();
  queue.listen();
  try {
    Deno.kill(Deno.pid, "SIGTTIN");
    assert.equal(await within(queue.next()), "SIGTTIN");
  } finally {
    queue.close();
  }
});

Deno.test("SignalQueue.close() stops queueing signals", async () => {
  using hup = guard("SIGHUP");
  const queue = new SignalQueue();
  queue.listen(["SIGHUP"]);
  queue.close();
  const delivered = hup.delivered();
  Deno.kill(Deno.pid, "SIGHUP");
  await within(delivered);
  // Had the closed queue taken the SIGHUP, it would come out first.
  queue.push("SIGUSR1");
  assert.equal(await settledOrPending(queue.next()), "SIGUSR1");
});
