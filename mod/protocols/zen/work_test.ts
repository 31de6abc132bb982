import assert from "node:assert/strict";
import { doWork } from "./work.ts";

Deno.test("doWork() with none or 0 ms does nothing and returns nothing", () => {
  assert.equal(doWork("none", 50), undefined);
  assert.equal(doWork("sleep", 0), undefined);
});

Deno.test("doWork('sleep') yields to the event loop; 'block' and 'cpu' do not", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await doWork("sleep", 30);
  const afterSleep = ticks;
  doWork("block", 30);
  doWork("cpu", 30);
  const afterBlocking = ticks;
  clearInterval(timer);
  assert.ok(afterSleep > 0, "timers ran during sleep");
  assert.equal(afterBlocking, afterSleep, "no timer ran during block/cpu");
});
