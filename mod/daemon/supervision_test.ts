import assert from "node:assert/strict";
import { configOf } from "../config/_testing.ts";
import type { ListenerStats } from "../models/contract.ts";
import { requiredWorkers, statusText, totals } from "./supervision.ts";

const listener = (model: string) =>
  configOf({ listener: [{ address: "127.0.0.1:1", model }] }).config
    .listener[0]!;

const item = (model: string, stats: ListenerStats) => ({
  listener: listener(model),
  stats: () => stats,
});

Deno.test("totals() adds up counters and names listeners without a ready worker", () => {
  const t = totals([
    item("async", { connections: 2, workers: 1 }),
    item("processes", { connections: 3, workers: 0 }),
    item("process-per-connection", { connections: 0, workers: 0 }),
  ]);
  assert.equal(t.connections, 5);
  assert.equal(t.workers, 1);
  assert.deepEqual(t.short, ["listener[1] (processes) has 0 workers ready"]);
});

Deno.test("requiredWorkers() asks one ready worker of every model but the per-connection ones", () => {
  assert.equal(requiredWorkers(listener("threads")), 1);
  assert.equal(requiredWorkers(listener("async")), 1);
  assert.equal(requiredWorkers(listener("thread-per-connection")), 0);
});

Deno.test("statusText() is one short line", () => {
  assert.equal(
    statusText(
      { listeners: 1, connections: 1, workers: 4, short: [] },
      "draining: ",
    ),
    "draining: 1 listener, 1 connection, 4 workers",
  );
});
