import assert from "node:assert/strict";
import {
  ACCESS_LOG_LOST_LINES,
  ACCESS_LOG_WRITE_ERRORS,
  accessLogLosses,
  exportAccessLogLosses,
} from "./access_losses.ts";
import { subtractSnapshot } from "./aggregate.ts";
import { mergeSnapshots, Metrics } from "./registry.ts";
import { renderPrometheus } from "./prometheus.ts";

Deno.test("exportAccessLogLosses() makes the live counts counters, at 0 before any loss", () => {
  const stats = { errors: 0, lost: 0 };
  const registry = new Metrics();
  exportAccessLogLosses(stats, registry);
  assert.deepEqual(registry.snapshot().counters, {
    [ACCESS_LOG_WRITE_ERRORS]: 0,
    [ACCESS_LOG_LOST_LINES]: 0,
  });
  stats.errors = 2;
  stats.lost = 130;
  exportAccessLogLosses(stats, registry); // a second caller: no double count
  assert.deepEqual(accessLogLosses(registry.snapshot()), {
    errors: 2,
    lost: 130,
  });
});

Deno.test("access log losses sum over workers like every counter", () => {
  // Two workers' registries, as their heartbeats carry them to the master.
  const w1 = { errors: 1, lost: 5 };
  const w2 = { errors: 3, lost: 7 };
  const r1 = new Metrics();
  const r2 = new Metrics();
  exportAccessLogLosses(w1, r1);
  exportAccessLogLosses(w2, r2);
  const total = mergeSnapshots([r1.snapshot(), r2.snapshot()]);
  assert.deepEqual(accessLogLosses(total), { errors: 4, lost: 12 });
  // What the master pushes to w1 (everything but w1), plus w1's live count.
  const others = subtractSnapshot(total, r1.snapshot());
  w1.lost = 6;
  assert.equal(
    accessLogLosses(mergeSnapshots([r1.snapshot(), others])).lost,
    13,
  );
  const text = renderPrometheus(total);
  assert.match(
    text,
    /# HELP koan_access_log_lost_lines_total Access log lines dropped because writing them failed\n# TYPE koan_access_log_lost_lines_total counter\nkoan_access_log_lost_lines_total 12\n/,
  );
  assert.match(
    text,
    /# TYPE koan_access_log_write_errors_total counter\nkoan_access_log_write_errors_total 4\n/,
  );
});

Deno.test("accessLogLosses() is 0 for a snapshot without the series", () => {
  assert.deepEqual(
    accessLogLosses({ counters: {}, gauges: {}, histograms: {} }),
    { errors: 0, lost: 0 },
  );
});
