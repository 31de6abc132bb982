import assert from "node:assert/strict";
import {
  HANDLED_SIGNALS,
  type HandledSignal,
  REOPEN_SIGNAL,
  sendSignal,
  SignalQueue,
} from "./signals.ts";
import { LIBC_PATHS } from "../util/self_command.ts";

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

Deno.test("HANDLED_SIGNALS names the signals the daemon answers: SIGUSR2 reopens, SIGUSR1 is not one", () => {
  assert.deepEqual([...HANDLED_SIGNALS], [
    "SIGTERM",
    "SIGINT",
    "SIGQUIT",
    "SIGHUP",
    "SIGUSR2",
    "SIGTTIN",
    "SIGTTOU",
  ]);
  assert.equal(REOPEN_SIGNAL, "SIGUSR2");
  assert.equal(
    (HANDLED_SIGNALS as readonly string[]).includes("SIGUSR1"),
    false,
  );
});

Deno.test("SignalQueue.next() returns signals in arrival order", async () => {
  const queue = new SignalQueue();
  queue.push("SIGHUP");
  queue.push("SIGUSR2");
  queue.push("SIGTERM");
  queue.push("SIGHUP");
  const got: HandledSignal[] = [];
  for (let i = 0; i < 4; i++) got.push(await queue.next());
  assert.deepEqual(got, ["SIGHUP", "SIGUSR2", "SIGTERM", "SIGHUP"]);
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
  queue.push("SIGUSR2");
  assert.equal(await settledOrPending(queue.next()), "SIGUSR2");
});

Deno.test("SignalQueue.listen() queues a real SIGUSR2 (koan reopen) sent to this process", async () => {
  using _usr2 = guard("SIGUSR2");
  const queue = new SignalQueue();
  queue.listen();
  try {
    Deno.kill(Deno.pid, "SIGUSR2");
    assert.equal(await within(queue.next()), "SIGUSR2");
  } finally {
    queue.close();
  }
});

const SIGNALS = new URL("./signals.ts", import.meta.url).href;
const LIBC_FLAG = `--allow-ffi=${LIBC_PATHS.join(",")}`;

/** Runs `code` (importing signals.ts) under `flags`; its output and exit code. */
async function runScript(
  flags: string[],
  code: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  // `deno eval` would grant everything; run a file with just `flags`.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import * as signals from "${SIGNALS}";\n${code}`,
  );
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", ...flags, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(script);
  }
}

/** A pid no process can have: above the kernel's pid_max. */
function impossiblePid(): number {
  return Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim()) + 1;
}

Deno.test("ignoreSigusr1() makes the kernel discard SIGUSR1, past Deno's 500 ms arming", async () => {
  // In a child: a SIGUSR1 there would open Deno's inspector (or, if this
  // code failed, end the child), so it is sent from inside, at 1.5 s.
  const result = await runScript(
    [LIBC_FLAG, "--allow-run", "--allow-read=/proc"],
    `console.log(JSON.stringify(signals.ignoreSigusr1()));
await new Promise((resolve) => setTimeout(resolve, 1500));
Deno.kill(Deno.pid, "SIGUSR1");
await new Promise((resolve) => setTimeout(resolve, 500));
console.log("alive");`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '{"ignored":true}\nalive\n');
  assert.doesNotMatch(result.stderr, /Debugger listening|inspect/i);
});

Deno.test("ignoreSigusr1() says why it cannot when FFI for the C library is not granted", async () => {
  const result = await runScript(
    [],
    `console.log(JSON.stringify(signals.ignoreSigusr1()));`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {
    ignored: false,
    reason: "no --allow-ffi for the C library",
  });
});

Deno.test("sendSignal() never signals pid 0, 1 or a negative pid (a group)", () => {
  for (const pid of [-1, 0, 1, 1.5, NaN]) {
    assert.throws(() => sendSignal(pid, "SIGUSR2"), RangeError);
  }
});

Deno.test("sendSignal() reports a pid with no process as NotFound", () => {
  assert.throws(
    () => sendSignal(impossiblePid(), "SIGUSR2"),
    Deno.errors.NotFound,
  );
});

Deno.test("sendSignal() signals through the C library without --allow-run (the compiled binary's case)", async () => {
  using usr2 = guard("SIGUSR2");
  const delivered = usr2.delivered();
  const sent = await runScript(
    [LIBC_FLAG],
    `signals.sendSignal(${Deno.pid}, "SIGUSR2");
try {
  signals.sendSignal(${impossiblePid()}, "SIGUSR2");
} catch (error) {
  console.log(error.constructor.name);
}`,
  );
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.stdout, "NotFound\n");
  await within(delivered);
});

Deno.test("sendSignal() without --allow-run or FFI is NotCapable, naming both", async () => {
  const result = await runScript(
    [],
    `try {
  signals.sendSignal(${impossiblePid()}, "SIGUSR2");
} catch (error) {
  console.log(error.constructor.name, error.message);
}`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^NotCapable .*--allow-run.*--allow-ffi=/);
});

Deno.test("sendSignal() sends koan reload's SIGHUP and koan stop's SIGTERM through the C library too", async () => {
  // Victims whose default action for both signals is to end.
  for (const signal of ["SIGHUP", "SIGTERM"] as const) {
    const victim = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      const sent = await runScript(
        [LIBC_FLAG],
        `signals.sendSignal(${victim.pid}, "${signal}");`,
      );
      assert.equal(sent.code, 0, sent.stderr);
      const status = await Promise.race([
        victim.status,
        new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), 5000)
        ),
      ]);
      assert.equal(status?.signal, signal, `sleep ended by ${signal}`);
    } finally {
      // Ended already, as it should have; else ended here.
      if (!(await isDone(victim.status))) victim.kill("SIGKILL");
      await victim.status;
    }
  }
});

/** Whether `promise` has settled (after one turn). */
async function isDone(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  const first = await Promise.race([
    promise.then(() => true),
    new Promise<typeof pending>((resolve) =>
      setTimeout(() => resolve(pending), 0)
    ),
  ]);
  return first === true;
}
