import assert from "node:assert/strict";
import { configureSync, type LogRecord } from "@logtape/logtape";
import { configOf } from "../../config/_testing.ts";
import { loadLogging } from "../../log/log.ts";
import {
  metrics,
  type MetricsSnapshot,
  seriesKey,
} from "../../metrics/registry.ts";
import { makeTable } from "../../protocols/zen/aphorisms.ts";
import { CrashLoopError, type Generation } from "../contract.ts";
import type { FromWorker, ToWorker } from "../ipc/messages.ts";
import { FakeClock } from "./_fake_clock.ts";
import {
  Pool,
  type PoolOptions,
  type SpawnedWorker,
  type SpawnRequest,
  type WorkerExit,
} from "./supervisor.ts";

// The pool's log lines, as text by level, so tests can read what it said.
const lines: { level: string; text: string }[] = [];
await loadLogging(); // so that lines reach LogTape as they are logged
configureSync({
  sinks: { capture: (record) => lines.push(renderLine(record)) },
  loggers: [
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    { category: ["koan", "pool"], sinks: ["capture"], lowestLevel: "info" },
  ],
});

function renderLine(record: LogRecord): { level: string; text: string } {
  const text = record.message.map((part, i) =>
    i % 2 === 0 || typeof part === "string"
      ? String(part)
      : JSON.stringify(part)
  ).join("");
  return { level: record.level, text };
}

function logged(level: string): string[] {
  return lines.filter((line) => line.level === level).map((line) => line.text);
}

const READY: FromWorker = { t: "ready" };
/**
 * Long enough for any restart the tests could cause (the backoff starts
 * at 100 ms), short of the default 30 s worker_timeout the fakes, which do
 * not beat, would trip.
 */
const QUIET_MS = 20_000;
const EPOCH = Date.UTC(2025, 0, 1);

function generationWith(limits: Record<string, number> = {}): Generation {
  return {
    config: configOf({ limits }).config,
    aphorisms: makeTable([]),
  };
}

/** A worker the test plays: it says what the test tells it to, and exits when told. */
class FakeWorker implements SpawnedWorker {
  readonly sent: ToWorker[] = [];
  readonly exited: Promise<WorkerExit>;
  kills = 0;
  /** Ignores kill() (a thread stuck in a loop) until the test calls exit(). */
  stubborn = false;
  gone = false;
  #exit: (exit: WorkerExit) => void = () => {};

  constructor(
    readonly request: SpawnRequest,
    readonly pid: number,
    readonly say: (message: FromWorker) => void,
  ) {
    this.exited = new Promise((resolve) => this.#exit = resolve);
  }

  send(message: ToWorker): void {
    if (!this.gone) this.sent.push(message);
  }

  kill(): void {
    this.kills++;
    if (!this.stubborn) this.exit({ signal: "SIGKILL" });
  }

  exit(exit: WorkerExit): void {
    if (this.gone) return;
    this.gone = true;
    this.#exit(exit);
  }

  get tag(): string {
    return this.request.tag;
  }
}

interface HarnessOptions {
  workers?: number;
  limits?: Record<string, number>;
  maxWorkers?: number;
  onFatal?: (reason: string) => void;
  /** Spawning throws this instead of starting a worker. */
  spawnError?: Error;
}

let pools = 0;

function harness(options: HarnessOptions = {}) {
  lines.length = 0;
  const clock = new FakeClock(EPOCH);
  const name = `test[${++pools}]`;
  const generation = generationWith(options.limits);
  const spawned: FakeWorker[] = [];
  const attempts: number[] = [];
  const gone: number[] = [];
  const poolOptions: PoolOptions = {
    name,
    workers: options.workers ?? 1,
    generation,
    clock,
    spawn: (request, onMessage) => {
      attempts.push(clock.now());
      if (options.spawnError) throw options.spawnError;
      const worker = new FakeWorker(request, 4000 + spawned.length, onMessage);
      spawned.push(worker);
      return worker;
    },
    onGone: (slot) => gone.push(slot),
    ...(options.maxWorkers ? { maxWorkers: options.maxWorkers } : {}),
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
  };
  const pool = new Pool(poolOptions);
  return {
    clock,
    name,
    generation,
    pool,
    spawned,
    attempts,
    gone,
    /** The newest worker. */
    get last(): FakeWorker {
      const worker = spawned.at(-1);
      assert.ok(worker, "no worker was spawned");
      return worker;
    },
    /** Starts the pool and has every worker report ready. */
    async start(): Promise<void> {
      const started = pool.start();
      await clock.settle();
      for (const worker of spawned) worker.say(READY);
      await started;
    },
    /** Ms until the pool spawns again (it must, within `limitMs`). */
    async untilSpawn(limitMs = 60_000): Promise<number> {
      const before = attempts.length;
      const from = clock.now();
      const spawnedAgain = await clock.runUntil(
        () => attempts.length > before,
        limitMs,
      );
      assert.ok(spawnedAgain, `no worker spawned within ${limitMs} ms`);
      return clock.now() - from;
    },
    /** Stops the pool at once (`drain(0)` kills every worker) and waits for it. */
    async stop(): Promise<void> {
      const drained = pool.drain(0);
      await clock.settle();
      await drained;
    },
  };
}

/** A promise's outcome, readable without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error) => Object.assign(state, { done: true, error }),
  );
  return state;
}

function gauge(name: string): number {
  const key = seriesKey("koan_workers", { listener: name });
  return metrics.snapshot().gauges[key] ?? 0;
}

function snapshotOf(
  counters: Record<string, number>,
  gauges: Record<string, number> = {},
): MetricsSnapshot {
  return { counters, gauges, histograms: {} };
}

Deno.test("Pool.start() resolves once every worker reports ready", async () => {
  const h = harness({ workers: 3 });
  const start = track(h.pool.start());
  await h.clock.settle();
  assert.equal(h.spawned.length, 3);
  h.spawned[0]!.say(READY);
  h.spawned[1]!.say(READY);
  await h.clock.settle();
  assert.equal(start.done, false);
  assert.equal(h.pool.stats().workers, 2);
  h.spawned[2]!.say(READY);
  await h.clock.settle();
  assert.deepEqual(start, { done: true, value: undefined });

  const tags = h.spawned.map((worker) => worker.tag);
  assert.equal(new Set(tags).size, 3);
  for (const tag of tags) assert.match(tag, /^w\d+$/);
  assert.deepEqual(h.spawned.map((worker) => worker.request.slot), [0, 1, 2]);
  for (const { request } of h.spawned) {
    // Default worker_timeout 30 s: beat every second.
    assert.equal(request.beatMs, 1000);
    assert.equal(request.maxRequests, 0);
    assert.equal(request.generation, h.generation);
  }
  assert.equal(h.pool.stats().workers, 3);
  assert.equal(gauge(h.name), 3);
  assert.deepEqual(logged("info"), [`${h.name}: 3 workers serving`]);
  // Said twice, counted once.
  h.spawned[0]!.say(READY);
  assert.equal(gauge(h.name), 3);
  await h.stop();
  assert.equal(gauge(h.name), 0);
});

Deno.test("Pool.stats() reports each worker's tag, pid, state, uptime and counters", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  await h.clock.advance(1500);
  h.spawned[0]!.say({ t: "beat", connections: 2, served: 7 });
  await h.pool.scale(1);
  const [a, b, c] = h.spawned as [FakeWorker, FakeWorker, FakeWorker];
  const worker = (
    w: FakeWorker,
    fields: { uptimeMs: number; state: string; startedAt: number },
    connections = 0,
    served = 0,
  ) => ({
    tag: w.tag,
    pid: w.pid,
    connections,
    served,
    restarts: 0,
    ...fields,
  });
  assert.deepEqual(h.pool.stats(), {
    connections: 2,
    workers: 2,
    restarts: 0,
    pool: [
      worker(a, { uptimeMs: 1500, state: "ready", startedAt: EPOCH }, 2, 7),
      worker(b, { uptimeMs: 1500, state: "ready", startedAt: EPOCH }),
      worker(c, { uptimeMs: 0, state: "booting", startedAt: EPOCH + 1500 }),
    ],
  });
  await h.stop();
});

Deno.test("Pool restarts a worker that exits, after 100 ms then 150 ms", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  const [first] = h.spawned as [FakeWorker];
  first.exit({ code: 1 });
  await h.clock.settle();
  assert.deepEqual(h.gone, [0]);
  assert.equal(gauge(h.name), 1);
  assert.deepEqual(logged("warning"), [
    `${first.tag} (pid ${first.pid}) exited with code 1; restarting in 100 ms`,
  ]);
  assert.equal(await h.untilSpawn(), 100);

  const second = h.last;
  assert.ok(!h.spawned.slice(0, -1).some((w) => w.tag === second.tag));
  // Round-robin: the slot just freed is not handed out again at once.
  assert.equal(second.request.slot, 2);
  second.say(READY);
  await h.clock.settle();
  const stats = h.pool.stats();
  assert.equal(stats.workers, 2);
  assert.equal(stats.restarts, 1);
  assert.equal(stats.pool?.find((w) => w.tag === second.tag)?.restarts, 1);
  const restarts = seriesKey("koan_worker_restarts_total", {
    listener: h.name,
  });
  assert.equal(metrics.snapshot().counters[restarts], 1);

  lines.length = 0;
  second.exit({ signal: "SIGSEGV" });
  await h.clock.settle();
  assert.deepEqual(logged("warning"), [
    `${second.tag} (pid ${second.pid}) was killed by SIGSEGV; restarting in 150 ms`,
  ]);
  assert.equal(await h.untilSpawn(), 150);
  h.last.say(READY);
  await h.clock.settle();
  assert.equal(
    h.pool.stats().pool?.find((w) => w.tag === h.last.tag)?.restarts,
    2,
  );
  await h.stop();
});

Deno.test("Pool restart delays grow by 1.5 from 100 ms and stop at 10 s", async () => {
  const h = harness();
  await h.start();
  const delays: number[] = [];
  for (let i = 0; i < 14; i++) {
    h.last.exit({ code: 1 });
    delays.push(await h.untilSpawn());
    h.last.say(READY);
  }
  assert.deepEqual(delays, [
    100,
    150,
    225,
    338,
    506,
    759,
    1139,
    1709,
    2563,
    3844,
    5767,
    8650,
    10_000,
    10_000,
  ]);
  await h.stop();
});

Deno.test("Pool forgets past failures once workers run 10 s without one", async () => {
  const h = harness();
  await h.start();
  const delayAfterExit = async () => {
    h.last.exit({ code: 1 });
    const delay = await h.untilSpawn();
    h.last.say(READY);
    return delay;
  };
  assert.equal(await delayAfterExit(), 100);
  assert.equal(await delayAfterExit(), 150);
  await h.clock.advance(9000);
  assert.equal(await delayAfterExit(), 225);
  await h.clock.advance(10_250);
  assert.equal(await delayAfterExit(), 100);
  await h.stop();
});

Deno.test("Pool.start() rejects with CrashLoopError when workers keep dying at boot", async () => {
  const h = harness();
  const start = track(h.pool.start());
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) delays.push(await h.untilSpawn());
    h.last.say({ t: "boot-error", message: "bad aphorisms", bind: false });
    h.last.exit({ code: 3 });
  }
  await h.clock.settle();
  assert.deepEqual(delays, [100, 150, 225, 338]);
  assert.ok(start.error instanceof CrashLoopError, String(start.error));
  assert.equal(
    start.error.message,
    `${h.name}: workers keep dying at boot (5 in a row, last: ${h.last.tag} exited with code 3, bad aphorisms); giving up, exit code 3`,
  );
  assert.equal(
    logged("warning")[0],
    `${h.spawned[0]!.tag} (pid ${
      h.spawned[0]!.pid
    }) exited with code 3 before it finished booting (bad aphorisms); restarting in 100 ms`,
  );
  // Given up for good: no timer left, nothing restarted.
  assert.equal(h.clock.pending, 0);
  await h.clock.advance(60_000);
  assert.equal(h.spawned.length, 5);
});

Deno.test("Pool gives up after 2 × workers boot deaths when that is more than 5", async () => {
  const h = harness({ workers: 4 });
  const start = track(h.pool.start());
  await h.clock.settle();
  let deaths = 0;
  while (!start.done && deaths < 20) {
    const booting = h.spawned.find((w) => !w.gone);
    if (booting) {
      booting.exit({ code: 1 });
      deaths++;
      await h.clock.settle();
    } else {
      await h.untilSpawn();
    }
  }
  assert.equal(deaths, 8);
  assert.ok(start.error instanceof CrashLoopError);
  assert.match(start.error.message, /\(8 in a row, /);
});

Deno.test("Pool counts a worker it cannot spawn as one that died at boot", async () => {
  const h = harness({
    spawnError: new Error("Resource temporarily unavailable"),
  });
  const start = track(h.pool.start());
  await h.clock.runUntil(() => start.done, 60_000);
  assert.deepEqual(h.attempts, [0, 100, 250, 475, 813]);
  assert.ok(start.error instanceof CrashLoopError);
  assert.match(start.error.message, /failed: Resource temporarily unavailable/);
});

Deno.test("Pool counts only boot deaths in a row, then calls onFatal once after start", async () => {
  const reasons: string[] = [];
  const h = harness({ onFatal: (reason) => reasons.push(reason) });
  const start = track(h.pool.start());
  for (let i = 0; i < 4; i++) {
    if (i > 0) await h.untilSpawn();
    h.last.exit({ code: 3 });
  }
  // A worker that boots starts the count again.
  await h.untilSpawn();
  h.last.say(READY);
  await h.clock.settle();
  assert.deepEqual(start, { done: true, value: undefined });
  h.last.exit({ code: 1 });
  for (let i = 0; i < 4; i++) {
    await h.untilSpawn();
    h.last.exit({ code: 3 });
  }
  await h.clock.settle();
  assert.deepEqual(reasons, []);
  await h.untilSpawn();
  h.last.exit({ code: 3 });
  await h.clock.settle();
  assert.equal(reasons.length, 1);
  assert.match(
    reasons[0]!,
    /\(5 in a row, last: w\d+ exited with code 3\); giving up, exit code 3$/,
  );
  assert.deepEqual(logged("error"), reasons);
  const count = h.spawned.length;
  await h.clock.advance(60_000);
  assert.equal(h.spawned.length, count);
  assert.equal(await h.pool.drain(1000), 0);
  assert.equal(reasons.length, 1);
});

Deno.test("Pool restarts nothing once it has given up", async () => {
  const reasons: string[] = [];
  const h = harness({ workers: 3, onFatal: (reason) => reasons.push(reason) });
  await h.start();
  const [stable, ...others] = h.spawned as [FakeWorker, ...FakeWorker[]];
  for (const worker of others) worker.exit({ code: 1 });
  // Two lines die at boot, their restarts interleaved, until it gives up.
  while (reasons.length === 0) {
    const booting = h.spawned.find((w) => !w.gone && w !== stable);
    if (booting) {
      booting.exit({ code: 3 });
      await h.clock.settle();
    } else {
      await h.untilSpawn();
    }
  }
  assert.match(reasons[0]!, /\(6 in a row, /);
  lines.length = 0;
  stable.exit({ code: 1 });
  await h.clock.settle();
  assert.deepEqual(logged("warning"), []);
  // Only the heartbeat check and the metrics push are left.
  assert.equal(h.clock.pending, 2);
  const count = h.spawned.length;
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, count);
  await h.stop();
  assert.equal(h.clock.pending, 0);
});

Deno.test("Pool.start() rejects with the worker's reason when the address cannot be bound", async () => {
  const h = harness({ workers: 2 });
  const start = track(h.pool.start());
  await h.clock.settle();
  h.spawned[0]!.say({
    t: "boot-error",
    message: "Address already in use (os error 98)",
    bind: true,
  });
  await h.clock.settle();
  assert.ok(start.error instanceof Error);
  assert.ok(!(start.error instanceof CrashLoopError));
  assert.equal(start.error.message, "Address already in use (os error 98)");
  assert.ok(h.spawned.every((w) => w.gone && w.kills > 0));
  assert.equal(h.clock.pending, 0);
  assert.equal(h.spawned.length, 2);
});

Deno.test("Pool restarts only up to its target when scaled down while restarts are pending", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  for (const worker of h.spawned) worker.exit({ code: 1 });
  await h.clock.settle();
  await h.pool.scale(-1);
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, 3);
  assert.equal(h.pool.stats().restarts, 1);
  await h.stop();
});

Deno.test("Pool kills a worker silent past limits.worker_timeout, once, and replaces it", async () => {
  const h = harness({ limits: { worker_timeout: 2 } });
  await h.start();
  const [worker] = h.spawned as [FakeWorker];
  assert.equal(worker.request.beatMs, 500);
  await h.clock.advance(1000);
  worker.say({ t: "beat", connections: 1, served: 1 });
  worker.stubborn = true;
  // Checked every 250 ms: silent for more than 2 s first at 3250 ms.
  await h.clock.advance(2249);
  assert.equal(worker.kills, 0);
  await h.clock.advance(1);
  assert.equal(worker.kills, 1);
  assert.deepEqual(logged("warning"), [
    `${worker.tag} (pid ${worker.pid}) silent for 2.3 s (limits.worker_timeout = 2): killing and replacing it`,
  ]);
  // Killed once, replaced only once it is gone.
  await h.clock.advance(5000);
  assert.equal(worker.kills, 1);
  assert.equal(h.spawned.length, 1);
  worker.exit({ signal: "terminated" });
  assert.equal(await h.untilSpawn(), 100);
  await h.stop();
});

Deno.test("Pool gives a booting worker 30 s, however short limits.worker_timeout is", async () => {
  const h = harness({ limits: { worker_timeout: 2 } });
  const start = track(h.pool.start());
  await h.clock.advance(30_000);
  assert.equal(h.spawned[0]!.kills, 0);
  await h.clock.advance(250);
  assert.equal(h.spawned[0]!.kills, 1);
  assert.equal(
    logged("warning")[0],
    `${h.spawned[0]!.tag} (pid ${
      h.spawned[0]!.pid
    }) did not boot within 30 s: killing it`,
  );
  assert.equal(await h.untilSpawn(), 100);
  h.last.say(READY);
  await h.clock.settle();
  assert.deepEqual(start, { done: true, value: undefined });
  await h.stop();
});

Deno.test("Pool gives a booting worker limits.worker_timeout when that is longer than 30 s", async () => {
  const h = harness({ limits: { worker_timeout: 45 } });
  const start = track(h.pool.start());
  await h.clock.advance(45_000);
  assert.equal(h.spawned[0]!.kills, 0);
  await h.clock.advance(250);
  assert.equal(h.spawned[0]!.kills, 1);
  await h.stop();
  assert.equal(start.done, true);
});

Deno.test("Pool.scale(+1) adds a worker and scale(-1) retires the newest", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  await h.pool.scale(1);
  assert.equal(h.spawned.length, 3);
  const added = h.last;
  assert.equal(added.request.slot, 2);
  added.say(READY);
  await h.clock.settle();
  assert.equal(h.pool.stats().workers, 3);
  assert.equal(logged("info").at(-1), `${h.name}: now 3 workers`);

  await h.pool.scale(-1);
  assert.deepEqual(added.sent, [{ t: "drain", timeoutMs: 30_000 }]);
  assert.deepEqual(h.spawned[0]!.sent, []);
  assert.deepEqual(h.spawned[1]!.sent, []);
  assert.ok(
    logged("info").includes(
      `${added.tag} (pid ${added.pid}) retiring (scaled down)`,
    ),
  );
  added.exit({ code: 0 });
  await h.clock.settle();
  assert.equal(
    logged("info").at(-1),
    `${added.tag} (pid ${added.pid}) exited with code 0 after retiring`,
  );
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, 3);
  assert.equal(h.pool.stats().restarts, 0);
  assert.equal(h.pool.stats().workers, 2);
  await h.stop();
});

Deno.test("Pool.scale() never goes below one worker nor above maxWorkers", async () => {
  const h = harness({ workers: 2, maxWorkers: 3 });
  await h.start();
  const draining = () =>
    h.spawned.filter((w) => w.sent.some((m) => m.t === "drain"));
  await h.pool.scale(-5);
  assert.deepEqual(draining(), [h.spawned[1]]);
  await h.pool.scale(-1);
  assert.deepEqual(draining(), [h.spawned[1]]);
  assert.equal(logged("info").at(-1), `${h.name}: now 1 workers`);
  h.spawned[1]!.exit({ code: 0 });
  await h.clock.settle();
  await h.pool.scale(5);
  assert.equal(h.spawned.length, 4);
  assert.equal(logged("info").at(-1), `${h.name}: now 3 workers`);
  await h.stop();
});

Deno.test("Pool kills a retiring worker that outlives shutdown_timeout by 2 s", async () => {
  const h = harness({ workers: 2, limits: { shutdown_timeout: 5 } });
  await h.start();
  const newest = h.spawned[1]!;
  newest.stubborn = true;
  await h.pool.scale(-1);
  assert.deepEqual(newest.sent, [{ t: "drain", timeoutMs: 5000 }]);
  await h.clock.advance(6999);
  assert.equal(newest.kills, 0);
  await h.clock.advance(1);
  assert.equal(newest.kills, 1);
  newest.exit({ signal: "SIGKILL" });
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, 2);
  await h.stop();
});

Deno.test("Pool recycles a worker past max_requests: its successor first, then the drain", async () => {
  const h = harness({ limits: { max_requests: 100 } });
  await h.start();
  const [old] = h.spawned as [FakeWorker];
  // Up to 10% jitter, so a pool does not recycle all at once.
  assert.ok(
    old.request.maxRequests >= 100 && old.request.maxRequests <= 110,
    String(old.request.maxRequests),
  );
  old.say({ t: "recycle", served: 104 });
  old.say({ t: "recycle", served: 104 });
  await h.clock.settle();
  assert.equal(h.spawned.length, 2);
  assert.deepEqual(
    logged("info").at(-1),
    `${old.tag} (pid ${old.pid}) reached max_requests after 104 connections: recycling`,
  );
  // Keeps serving until its successor does.
  await h.clock.advance(5000);
  assert.deepEqual(old.sent, []);
  h.last.say(READY);
  await h.clock.settle();
  assert.deepEqual(old.sent, [{ t: "drain", timeoutMs: 30_000 }]);
  assert.equal(
    logged("info").at(-1),
    `${old.tag} (pid ${old.pid}) retiring (recycled)`,
  );
  old.exit({ code: 0 });
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, 2);
  assert.deepEqual(
    [h.pool.stats().workers, h.pool.stats().restarts],
    [1, 0],
  );
  assert.deepEqual(logged("warning"), []);
  await h.stop();
});

Deno.test("Pool replaces a recycling worker's successor that dies at boot, not the worker", async () => {
  const h = harness({ limits: { max_requests: 100 } });
  await h.start();
  const [old] = h.spawned as [FakeWorker];
  old.say({ t: "recycle", served: 100 });
  await h.clock.settle();
  h.last.exit({ code: 3 });
  assert.equal(await h.untilSpawn(), 100);
  assert.deepEqual(old.sent, []);
  assert.equal(h.spawned.length, 3);
  h.last.say(READY);
  await h.clock.settle();
  assert.deepEqual(old.sent, [{ t: "drain", timeoutMs: 30_000 }]);
  old.exit({ code: 0 });
  await h.clock.advance(QUIET_MS);
  assert.equal(h.spawned.length, 3);
  assert.equal(h.pool.stats().workers, 1);
  await h.stop();
});

Deno.test("Pool.drain() drains every worker, kills what outlives the deadline, and resolves once all have exited", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  const [quick, slow] = h.spawned as [FakeWorker, FakeWorker];
  slow.say({ t: "beat", connections: 3, served: 10 });
  slow.stubborn = true;
  await h.pool.scale(1);
  const booting = h.last;
  const drained = track(h.pool.drain(5000));
  await h.clock.settle();
  // Not serving anyone yet: killed, not drained.
  assert.deepEqual([booting.kills, booting.sent], [1, []]);
  assert.deepEqual(quick.sent, [{ t: "drain", timeoutMs: 5000 }]);
  assert.deepEqual(slow.sent, [{ t: "drain", timeoutMs: 5000 }]);
  await h.clock.advance(1000);
  quick.say({ t: "drained", forced: 2 });
  quick.exit({ code: 0 });
  await h.clock.advance(5999);
  assert.equal(slow.kills, 0);
  assert.equal(drained.done, false);
  await h.clock.advance(1);
  assert.equal(slow.kills, 1);
  // Killed is not gone: drain waits until the worker is reaped.
  await h.clock.advance(10_000);
  assert.equal(drained.done, false);
  slow.exit({ signal: "SIGKILL" });
  await h.clock.settle();
  // quick forced 2; slow was killed holding 3.
  assert.deepEqual(drained, { done: true, value: 5 });
  assert.equal(h.spawned.length, 3);
  assert.equal(gauge(h.name), 0);
  assert.equal(h.clock.pending, 0);
  await h.pool.scale(1);
  assert.equal(h.spawned.length, 3);
});

Deno.test("Pool.drain() during start() rejects start and stops the booting workers", async () => {
  const h = harness({ workers: 2 });
  const start = track(h.pool.start());
  await h.clock.settle();
  assert.equal(await h.pool.drain(5000), 0);
  await h.clock.settle();
  assert.ok(start.error instanceof Error);
  assert.equal(start.error.message, "Stopped while starting");
  assert.ok(
    h.spawned.every((w) => w.gone && w.kills > 0 && w.sent.length === 0),
  );
  assert.equal(h.clock.pending, 0);
});

Deno.test('Pool.reopen() sends { t: "reopen" } to every worker', async () => {
  const h = harness({ workers: 2 });
  await h.start();
  await h.pool.scale(1);
  h.pool.reopen();
  assert.equal(h.spawned.length, 3);
  for (const worker of h.spawned) {
    assert.deepEqual(worker.sent, [{ t: "reopen" }]);
  }
  await h.stop();
});

Deno.test("Pool.update() sends the new generation, and later workers start with it", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  const next = generationWith({ worker_timeout: 2 });
  h.pool.update(next);
  for (const worker of h.spawned) {
    assert.equal(worker.sent.length, 1);
    assert.equal(worker.sent[0]!.t, "update");
    assert.equal(
      (worker.sent[0] as { generation: Generation }).generation,
      next,
    );
  }
  await h.pool.scale(1);
  assert.equal(h.last.request.generation, next);
  assert.equal(h.last.request.beatMs, 500);
  await h.stop();
});

Deno.test("Pool.snapshot() sums its workers' metrics and keeps the counters of those gone", async () => {
  const h = harness({ workers: 2 });
  await h.start();
  const [a, b] = h.spawned as [FakeWorker, FakeWorker];
  const total = "pool_test_served_total";
  const open = "pool_test_open";
  a.say({
    t: "beat",
    connections: 1,
    served: 3,
    metrics: snapshotOf({ [total]: 3 }, { [open]: 1 }),
  });
  b.say({
    t: "beat",
    connections: 2,
    served: 5,
    metrics: snapshotOf({ [total]: 5 }, { [open]: 2 }),
  });
  assert.deepEqual(
    [h.pool.snapshot().counters[total], h.pool.snapshot().gauges[open]],
    [8, 3],
  );
  a.exit({ code: 1 });
  await h.clock.settle();
  // Its counters stay; its gauges ended with it.
  assert.deepEqual(
    [h.pool.snapshot().counters[total], h.pool.snapshot().gauges[open]],
    [8, 2],
  );
  await h.untilSpawn();
  h.last.say(READY);
  h.last.say({
    t: "beat",
    connections: 1,
    served: 1,
    metrics: snapshotOf({ [total]: 1 }, { [open]: 1 }),
  });
  assert.deepEqual(
    [h.pool.snapshot().counters[total], h.pool.snapshot().gauges[open]],
    [9, 3],
  );
  await h.stop();
});

Deno.test("Pool sends each ready worker the rest of the daemon's metrics every second", async () => {
  const h = harness({ workers: 3 });
  await h.start();
  const [a, b, c] = h.spawned as [FakeWorker, FakeWorker, FakeWorker];
  const key = "pool_test_pushed_total";
  const beat = (worker: FakeWorker, count: number) =>
    worker.say({
      t: "beat",
      connections: 0,
      served: 0,
      metrics: snapshotOf({ [key]: count }),
    });
  beat(a, 3);
  beat(b, 5);
  beat(c, 10);
  // Retiring: still counted, no longer told.
  await h.pool.scale(-1);
  await h.clock.advance(999);
  assert.deepEqual([a.sent, b.sent, c.sent.length], [[], [], 1]);
  await h.clock.advance(1);
  const pushed = (worker: FakeWorker) =>
    worker.sent.map((m) => m.t === "metrics" ? m.snapshot.counters[key] : m.t);
  assert.deepEqual([pushed(a), pushed(b), pushed(c)], [[15], [13], ["drain"]]);
  await h.stop();
});
