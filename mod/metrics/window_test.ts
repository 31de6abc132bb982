import assert from "node:assert/strict";
import { Metrics } from "./registry.ts";
import { MinuteWindow } from "./window.ts";

Deno.test("MinuteWindow gives QPS and p99 over the kept span", () => {
  const m = new Metrics();
  const window = new MinuteWindow(10_000);
  window.push(m.snapshot(), 0);
  for (let i = 0; i < 100; i++) {
    m.inc('koan_requests_total{protocol="http",status="200"}');
    m.observe(
      'koan_request_duration_seconds{protocol="http"}',
      i < 98 ? 0.002 : 0.2,
    );
  }
  window.push(m.snapshot(), 5_000);
  const stats = window.stats();
  assert.equal(stats.seconds, 5);
  assert.equal(stats.qps, 20);
  assert.equal(stats.p99Ms, 250);
});

Deno.test("MinuteWindow forgets samples older than its span", () => {
  const m = new Metrics();
  const window = new MinuteWindow(1_000);
  for (let t = 0; t <= 5_000; t += 500) {
    m.inc('koan_requests_total{protocol="zen",status="answered"}', 10);
    window.push(m.snapshot(), t);
  }
  const stats = window.stats();
  assert.ok(stats.seconds <= 1.5, String(stats.seconds));
  assert.ok(Math.abs(stats.qps - 20) < 1e-9, String(stats.qps));
});

Deno.test("MinuteWindow gives p50 beside p99, and 0 for both with no request", () => {
  const m = new Metrics();
  const window = new MinuteWindow(10_000);
  window.push(m.snapshot(), 0);
  window.push(m.snapshot(), 1_000);
  assert.deepEqual(window.stats(), {
    seconds: 1,
    qps: 0,
    p50Ms: 0,
    p99Ms: 0,
  });
  for (let i = 0; i < 10; i++) {
    m.observe('koan_request_duration_seconds{protocol="zen"}', 0.002);
  }
  window.push(m.snapshot(), 2_000);
  assert.equal(window.stats().p50Ms, 2.5);
});
