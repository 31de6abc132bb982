import assert from "node:assert/strict";
import {
  LATENCY_BUCKETS,
  mergeSnapshots,
  Metrics,
  seriesKey,
} from "./registry.ts";
import { renderPrometheus } from "./prometheus.ts";

Deno.test("seriesKey() orders and escapes labels", () => {
  assert.equal(seriesKey("m"), "m");
  assert.equal(seriesKey("m", { b: "2", a: 'x"y' }), 'm{a="x\\"y",b="2"}');
});

Deno.test("Metrics counts, gauges and histograms; merge adds across workers", () => {
  const a = new Metrics();
  const b = new Metrics();
  a.inc("c", 2);
  b.inc("c");
  a.add("g", 3);
  b.add("g", -1);
  a.observe("h", 0.0001);
  b.observe("h", 100);
  const total = mergeSnapshots([a.snapshot(), b.snapshot()]);
  assert.equal(total.counters.c, 3);
  assert.equal(total.gauges.g, 2);
  assert.equal(total.histograms.h?.count, 2);
  assert.equal(total.histograms.h?.counts[0], 1);
  assert.equal(total.histograms.h?.counts[LATENCY_BUCKETS.length], 1);
});

Deno.test("renderPrometheus() writes HELP/TYPE and cumulative buckets", () => {
  const m = new Metrics();
  m.inc(
    seriesKey("koan_requests_total", { protocol: "http", status: "200" }),
    5,
  );
  m.observe(
    seriesKey("koan_request_duration_seconds", { protocol: "http" }),
    0.003,
  );
  m.observe(
    seriesKey("koan_request_duration_seconds", { protocol: "http" }),
    0.3,
  );
  const text = renderPrometheus(m.snapshot());
  assert.match(
    text,
    /# TYPE koan_requests_total counter\nkoan_requests_total\{protocol="http",status="200"\} 5\n/,
  );
  assert.match(
    text,
    /koan_request_duration_seconds_bucket\{protocol="http",le="0.005"\} 1\n/,
  );
  assert.match(
    text,
    /koan_request_duration_seconds_bucket\{protocol="http",le="0.5"\} 2\n/,
  );
  assert.match(
    text,
    /koan_request_duration_seconds_bucket\{protocol="http",le="\+Inf"\} 2\n/,
  );
  assert.match(
    text,
    /koan_request_duration_seconds_count\{protocol="http"\} 2\n/,
  );
});

Deno.test("Metrics.counterFunc() reads its counter on every snapshot, once per key", () => {
  const m = new Metrics();
  const kept = { n: 0 };
  m.counterFunc("kept_total", () => kept.n);
  assert.equal(
    m.snapshot().counters.kept_total,
    0,
    "exported before any count",
  );
  kept.n = 4;
  assert.equal(m.snapshot().counters.kept_total, 4);
  // Registering again replaces the reader: never counted twice.
  m.counterFunc("kept_total", () => kept.n);
  assert.equal(m.snapshot().counters.kept_total, 4);
  // A counter also counted with inc() adds up.
  m.inc("kept_total", 2);
  assert.equal(m.snapshot().counters.kept_total, 6);
  assert.equal(
    mergeSnapshots([m.snapshot(), m.snapshot()]).counters.kept_total,
    12,
  );
});

Deno.test("Metrics.counter() and histogram() hand out the cells inc() and observe() use", () => {
  const m = new Metrics();
  const requests = m.counter("requests_total");
  assert.deepEqual(m.snapshot().counters, { requests_total: 0 });
  requests.inc();
  requests.inc(4);
  m.inc("requests_total");
  assert.equal(m.counter("requests_total"), requests, "one cell per key");
  assert.equal(m.snapshot().counters.requests_total, 6);

  const latency = m.histogram("latency_seconds");
  latency.observe(0.0001);
  m.observe("latency_seconds", 100);
  assert.equal(m.histogram("latency_seconds"), latency);
  const state = m.snapshot().histograms.latency_seconds!;
  assert.equal(state.count, 2);
  assert.equal(state.sum, 100.0001);
  assert.equal(state.counts[0], 1);
  assert.equal(state.counts[LATENCY_BUCKETS.length], 1);
  // A snapshot is a copy: later counts do not change it.
  latency.observe(0.0001);
  assert.equal(state.count, 2);
  assert.equal(state.counts[0], 1);
});
