/**
 * Faults under steady load: a SIGKILLed `processes` worker costs at most
 * the connections it held (new ones succeed, a replacement appears), and a
 * SIGTERM on `async` delivers every answer in flight, then exits 0.
 */
import assert from "node:assert/strict";
import {
  ask,
  childProcesses,
  connect,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import { type LoopStats, sleep, zenLoop } from "./_load.ts";

const CLIENTS = 4;

/** Live pool workers of the daemon. */
function workers(daemon: TestDaemon): number[] {
  return childProcesses(daemon.pid)
    .filter((child) => child.cmdline.includes("_worker") && child.state !== "Z")
    .map((child) => child.pid);
}

function sum(stats: LoopStats[], key: "answered" | "failed"): number {
  return stats.reduce((n, s) => n + s[key], 0);
}

Deno.test("processes: SIGKILL of a worker under load fails only its connections; it is replaced", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${port}"
model = "processes"
workers = 2
`,
    ports: [port],
    timeoutMs: 30_000,
  });
  await eventually(() => workers(daemon).length === 2, "two workers", 15_000);
  const before = workers(daemon);

  const stop = new AbortController();
  const load = Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        zenLoop({
          port,
          stop: stop.signal,
          questionsPerConnection: 10,
          timeoutMs: 3000,
        }),
    ),
  );
  await sleep(1500);
  const victim = before[0]!;
  const killedAt = performance.now();
  Deno.kill(victim, "SIGKILL");

  // A replacement appears within a few seconds.
  await eventually(
    () => {
      const now = workers(daemon);
      return now.length === 2 && !now.includes(victim);
    },
    "a replacement worker",
    10_000,
  );
  const replacedMs = performance.now() - killedAt;
  await sleep(2000);
  stop.abort();
  const stats = await load;

  // New connections after the kill all succeed.
  let fresh = 0;
  for (let i = 0; i < 20; i++) {
    if ((await ask(port, ["Readability?"]))[0] === "counts.") fresh++;
  }
  const answered = sum(stats, "answered");
  const failed = sum(stats, "failed");
  const lateFailures = stats.flatMap((s) => s.failedAt)
    .filter((at) => at > killedAt + 1000);
  console.log(
    `SIGKILL worker ${victim}: ${answered} answered, ${failed} failed (${
      stats.flatMap((s) => s.errors).join("; ")
    }), replaced in ${
      replacedMs.toFixed(0)
    } ms, ${fresh}/20 fresh asks answered`,
  );
  await daemon.waitForLog(
    new RegExp(`\\(pid ${victim}\\) was killed by SIGKILL; restarting`),
  );
  assert.ok(answered > 100, `only ${answered} answered under load`);
  // Only connections held by (or queued for) the killed worker may fail:
  // about one per client, all right after the kill.
  assert.ok(failed <= 2 * CLIENTS, `${failed} requests failed`);
  assert.deepEqual(lateFailures, [], "requests failed long after the kill");
  assert.equal(fresh, 20, "new connections after the kill failed");
  assert.ok(replacedMs < 5000, `replacement took ${replacedMs.toFixed(0)} ms`);
});

/** One question of the SIGTERM test. */
interface Question {
  /** When its bytes were written (`performance.now()`). */
  sentAt: number;
  answeredAt?: number;
  failure?: string;
}

/** Asks one question after another on one connection until it closes or `stop`. */
async function sleepyClient(
  port: number,
  stop: AbortSignal,
  log: Question[],
): Promise<void> {
  using conn = await connect(port);
  for (let i = 0; i < 1000 && !stop.aborted; i++) {
    const question: Question = { sentAt: Infinity };
    log.push(question);
    try {
      await send(conn, "Readability?");
      question.sentAt = performance.now();
      const { text, closed, timedOut } = await readUntil(conn, ".", 5000);
      if (text === "counts.") question.answeredAt = performance.now();
      else {
        question.failure = timedOut ? "timed out" : closed ? "closed" : text;
        return;
      }
    } catch (error) {
      question.failure = String(error);
      return;
    }
  }
}

Deno.test("async: SIGTERM under load delivers every answer in flight, then exits 0", async () => {
  const port = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${port}"
model = "async"

[zen]
work = "sleep"
work_ms = 200
`,
    ports: [port],
  });
  const stop = new AbortController();
  const logs: Question[][] = Array.from({ length: 8 }, () => []);
  try {
    const clients = logs.map(async (log, i) => {
      await sleep(i * 25); // spread the questions over the work time
      await sleepyClient(port, stop.signal, log);
    });
    await sleep(1500);
    const termAt = performance.now();
    daemon.kill("SIGTERM");
    const guard = setTimeout(() => daemon.kill("SIGKILL"), 20_000);
    const status = await daemon.exited;
    clearTimeout(guard);
    stop.abort();
    await Promise.all(clients);

    const all = logs.flat();
    const inFlight = all.filter((q) =>
      q.sentAt < termAt && (q.answeredAt === undefined || q.answeredAt > termAt)
    );
    const delivered = inFlight.filter((q) => q.answeredAt !== undefined);
    const lost = inFlight.filter((q) => q.answeredAt === undefined);
    const before = all.filter((q) => q.answeredAt! <= termAt).length;
    const after = all.filter((q) => q.sentAt > termAt && q.sentAt < Infinity);
    console.log(
      `SIGTERM async: ${before} answered before, ${inFlight.length} in flight, ` +
        `${delivered.length} delivered, ${lost.length} lost; ${after.length} sent after ` +
        `(${
          after.filter((q) => q.answeredAt).length
        } answered); exit ${status.code}`,
    );
    assert.equal(status.code, 0, daemon.log);
    assert.ok(inFlight.length >= 4, `only ${inFlight.length} in flight`);
    assert.deepEqual(
      lost.map((q) => q.failure),
      [],
      "answers in flight were lost",
    );
    assert.doesNotMatch(daemon.log, /\bERROR\b/);
  } finally {
    stop.abort();
    daemon.kill("SIGKILL");
    await daemon.exited;
    if (daemon.configPath) await Deno.remove(daemon.configPath);
  }
});
