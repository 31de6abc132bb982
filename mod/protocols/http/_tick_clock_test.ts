import assert from "node:assert/strict";
import { tickNow } from "./_tick_clock.ts";

/** Spins until `performance.now()` has moved past `than`. */
function spinPast(than: number): number {
  let now = performance.now();
  while (now <= than) now = performance.now();
  return now;
}

Deno.test("tickNow() reads the clock once per generation of microtasks", async () => {
  const first = tickNow();
  const later = spinPast(first);
  assert.equal(tickNow(), first, "the same turn shares one reading");
  // A microtask queued before the reading ran shares it too; one queued
  // after the reading was forgotten reads again.
  await null;
  const next = tickNow();
  assert.ok(next >= later, `${next} read again, after ${later}`);
  assert.equal(tickNow(), next);
});

Deno.test("tickNow() is as fresh as performance.now() in a new turn", async () => {
  const before = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const now = tickNow();
  assert.ok(now - before >= 4, `${now - before} ms passed`);
  assert.ok(now <= performance.now());
});

Deno.test("tickNow() never goes backwards", async () => {
  let last = tickNow();
  for (let i = 0; i < 1000; i++) {
    if (i % 10 === 0) await null;
    const now = tickNow();
    assert.ok(now >= last, `${now} after ${last}`);
    last = now;
  }
});
