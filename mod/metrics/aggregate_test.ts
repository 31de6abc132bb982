import assert from "node:assert/strict";
import {
  addSnapshotProvider,
  aggregate,
  retiredPart,
  retireSnapshot,
  setRemote,
  subtractSnapshot,
} from "./aggregate.ts";
import { Metrics, metrics } from "./registry.ts";

Deno.test("aggregate() adds providers, the remote view and retired counts to this isolate's registry", () => {
  const base = aggregate().counters["x_total"] ?? 0;
  metrics.inc("x_total", 2);
  const worker = new Metrics();
  worker.inc("x_total", 3);
  worker.add("open", 4);
  const remove = addSnapshotProvider(() => worker.snapshot());
  assert.equal(aggregate().counters["x_total"], base + 5);
  assert.equal(aggregate().gauges["open"], 4);
  // The provider ends (a pool replaced by a reload): its counters stay,
  // its gauges go.
  retireSnapshot(worker.snapshot());
  remove();
  assert.equal(aggregate().counters["x_total"], base + 5);
  assert.equal(aggregate().gauges["open"] ?? 0, 0);
  setRemote({ counters: { x_total: 10 }, gauges: {}, histograms: {} });
  assert.equal(aggregate().counters["x_total"], base + 15);
  setRemote(undefined);
});

Deno.test("subtractSnapshot() takes one worker's counts out of a total", () => {
  const a = new Metrics();
  const b = new Metrics();
  a.inc("c", 2);
  b.inc("c", 5);
  a.observe("h", 0.001);
  b.observe("h", 1);
  b.add("g", 1);
  const total = {
    counters: { c: 7 },
    gauges: { g: 1 },
    histograms: {
      h: {
        counts: a.snapshot().histograms.h!.counts.map((n, i) =>
          n + b.snapshot().histograms.h!.counts[i]!
        ),
        sum: 1.001,
        count: 2,
      },
    },
  };
  const others = subtractSnapshot(total, b.snapshot());
  assert.equal(others.counters.c, 2);
  assert.equal(others.gauges.g, 0);
  assert.equal(others.histograms.h?.count, 1);
  assert.deepEqual(
    others.histograms.h?.counts,
    a.snapshot().histograms.h!.counts,
  );
  assert.deepEqual(retiredPart(b.snapshot()).gauges, {});
});
