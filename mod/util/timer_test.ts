import assert from "node:assert/strict";
import { after } from "./timer.ts";

Deno.test("after() calls back once, in order of due time", async () => {
  const calls: string[] = [];
  await new Promise<void>((resolve) => {
    after(30, () => {
      calls.push("30");
      resolve();
    });
    after(5, () => calls.push("5"));
    after(0, () => calls.push("0"));
  });
  assert.deepEqual(calls, ["0", "5", "30"]);
});

Deno.test("after() does not call back once cancelled, even cancelled twice", async () => {
  let called = false;
  const cancel = after(5, () => called = true);
  cancel();
  cancel();
  await new Promise<void>((resolve) => after(20, resolve));
  assert.equal(called, false);
});

Deno.test("after() waits at least the time asked", async () => {
  const start = performance.now();
  await new Promise<void>((resolve) => after(25, resolve));
  assert.ok(performance.now() - start >= 24, "fired early");
});
