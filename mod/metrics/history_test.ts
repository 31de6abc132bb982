import assert from "node:assert/strict";
import {
  History,
  HISTORY_SECONDS,
  type HistoryInput,
  MAX_WORKER_LINES,
} from "./history.ts";
import { Metrics } from "./registry.ts";
import { requestCount } from "./window.ts";

const ZEN = 'koan_requests_total{protocol="zen",status="answered"}';
const DURATION = 'koan_request_duration_seconds{protocol="zen"}';

/** A tick of `m` at `at` ms, nothing else going on. */
function windowTick(history: History, m: Metrics, at: number): void {
  history.push(tick(m, at));
}

function tick(
  m: Metrics,
  at: number,
  extra: Partial<HistoryInput> = {},
): HistoryInput {
  return { at, snapshot: m.snapshot(), connections: 0, workers: {}, ...extra };
}

Deno.test("History keeps at most 900 samples, oldest dropped first", () => {
  const m = new Metrics();
  const history = new History();
  for (let s = 0; s < HISTORY_SECONDS + 250; s++) {
    history.push(tick(m, s * 1000, { connections: s }));
  }
  const columns = history.columns();
  assert.equal(history.length, 900);
  assert.equal(columns.connections.length, 900);
  assert.equal(columns.rps.length, 900);
  assert.equal(columns.connections[0], 250);
  assert.equal(columns.connections.at(-1), 1149);
  assert.equal(columns.start, 250_000);
  assert.equal(columns.end, 1_149_000);
});

Deno.test("History gives requests per second from the count's deltas, echo connections included", () => {
  const m = new Metrics();
  const history = new History();
  history.push(tick(m, 0));
  m.inc(ZEN, 30);
  m.inc(
    'koan_connections_closed_total{outcome="closed",protocol="echo"}',
    10,
  );
  // Zen connections closing are not requests: their answers are.
  m.inc('koan_connections_closed_total{outcome="closed",protocol="zen"}', 5);
  history.push(tick(m, 1000));
  m.inc(ZEN, 50);
  history.push(tick(m, 3000)); // a late tick: two seconds
  assert.deepEqual(history.columns().rps, [0, 40, 25]);
  assert.equal(requestCount(m.snapshot()), 90);
});

Deno.test("History takes p50 and p99 from the bucket deltas of each second alone", () => {
  const m = new Metrics();
  const history = new History();
  // Slow requests before the first tick must not weigh on later seconds.
  for (let i = 0; i < 500; i++) m.observe(DURATION, 2);
  history.push(tick(m, 0));
  for (let i = 0; i < 100; i++) m.observe(DURATION, i < 98 ? 0.0004 : 0.2);
  history.push(tick(m, 1000));
  history.push(tick(m, 2000)); // an idle second
  for (let i = 0; i < 10; i++) m.observe(DURATION, i < 5 ? 0.003 : 30);
  history.push(tick(m, 3000));
  const { p50, p99 } = history.columns();
  assert.deepEqual(p50, [null, 0.5, null, 5]);
  // Past the last bucket reads as the largest finite bound (10 s).
  assert.deepEqual(p99, [null, 250, null, 10_000]);
});

Deno.test("History keeps restarts and lost connections cumulative", () => {
  const m = new Metrics();
  const history = new History();
  history.push(tick(m, 0));
  m.inc('koan_worker_restarts_total{listener="zen"}', 2);
  m.inc(
    'koan_lost_connections_total{event="crash",protocol="zen",reason="signal 9"}',
    3,
  );
  history.push(tick(m, 1000));
  m.inc(
    'koan_lost_connections_total{event="stop",protocol="all",reason="none"}',
    0,
  );
  history.push(tick(m, 2000));
  const { restarts, lost } = history.columns();
  assert.deepEqual(restarts, [0, 2, 2]);
  assert.deepEqual(lost, [0, 3, 3]);
});

Deno.test("History gives each worker's open connections and accepted per second, null where it was absent", () => {
  const m = new Metrics();
  const history = new History();
  history.push(
    tick(m, 0, { workers: { w1: { connections: 1, accepted: 10 } } }),
  );
  history.push(tick(m, 1000, {
    workers: {
      w1: { connections: 4, accepted: 25 },
      w2: { connections: 2, accepted: 7 },
    },
  }));
  history.push(
    tick(m, 2000, { workers: { w2: { connections: 0, accepted: 12 } } }),
  );
  assert.deepEqual(history.columns().workers, [
    { tag: "w1", connections: [1, 4, null], accepted: [null, 15, null] },
    { tag: "w2", connections: [null, 2, 0], accepted: [null, null, 5] },
  ]);
});

Deno.test("History forgets a worker once its last sample is out of the ring", () => {
  const m = new Metrics();
  const history = new History(3);
  history.push(
    tick(m, 0, { workers: { w1: { connections: 1, accepted: 1 } } }),
  );
  for (let s = 1; s <= 3; s++) {
    history.push(
      tick(m, s * 1000, { workers: { w2: { connections: 0, accepted: s } } }),
    );
  }
  assert.deepEqual(history.columns().workers.map((w) => w.tag), ["w2"]);
});

Deno.test("History keeps every live worker's line and only the most recent gone ones", () => {
  const m = new Metrics();
  const history = new History();
  // A worker recycled every second: w0, w1, ... each lives one second.
  for (let s = 0; s < 40; s++) {
    history.push(tick(m, s * 1000, {
      workers: {
        main: { connections: 0, accepted: s },
        [`w${s}`]: { connections: 1, accepted: 1 },
      },
    }));
  }
  const tags = history.columns().workers.map((w) => w.tag);
  assert.equal(tags.length, MAX_WORKER_LINES);
  assert.equal(tags[0], "main");
  assert.deepEqual(
    tags.slice(1),
    Array.from({ length: MAX_WORKER_LINES - 1 }, (_, i) => `w${25 + i}`),
  );
});

Deno.test("new History() refuses a size that is not a positive integer", () => {
  assert.throws(() => new History(0), RangeError);
  assert.throws(() => new History(1.5), RangeError);
});

Deno.test("History.window() gives QPS and p99 over the kept span", () => {
  const m = new Metrics();
  const history = new History();
  windowTick(history, m, 0);
  for (let i = 0; i < 100; i++) {
    m.inc('koan_requests_total{protocol="http",status="200"}');
    m.observe(
      'koan_request_duration_seconds{protocol="http"}',
      i < 98 ? 0.002 : 0.2,
    );
  }
  windowTick(history, m, 5_000);
  const stats = history.window(10_000);
  assert.equal(stats.seconds, 5);
  assert.equal(stats.qps, 20);
  assert.equal(stats.p99Ms, 250);
});

Deno.test("History.window() forgets samples older than its span", () => {
  const m = new Metrics();
  const history = new History();
  for (let t = 0; t <= 5_000; t += 500) {
    m.inc('koan_requests_total{protocol="zen",status="answered"}', 10);
    windowTick(history, m, t);
  }
  const stats = history.window(1_000);
  assert.ok(stats.seconds <= 1.5, String(stats.seconds));
  assert.ok(Math.abs(stats.qps - 20) < 1e-9, String(stats.qps));
});

Deno.test("History.window() gives p50 beside p99, and 0 for both with no request", () => {
  const m = new Metrics();
  const history = new History();
  assert.deepEqual(history.window(), {
    seconds: 0,
    qps: 0,
    p50Ms: 0,
    p99Ms: 0,
  });
  windowTick(history, m, 0);
  windowTick(history, m, 1_000);
  assert.deepEqual(history.window(10_000), {
    seconds: 1,
    qps: 0,
    p50Ms: 0,
    p99Ms: 0,
  });
  for (let i = 0; i < 10; i++) {
    m.observe('koan_request_duration_seconds{protocol="zen"}', 0.002);
  }
  windowTick(history, m, 2_000);
  assert.equal(history.window(10_000).p50Ms, 2.5);
});
