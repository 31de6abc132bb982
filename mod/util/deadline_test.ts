import assert from "node:assert/strict";
import { DeadlineWheel } from "./deadline.ts";

Deno.test("Deadline fires once after it passes and the wheel stops when empty", async () => {
  const wheel = new DeadlineWheel();
  let fired = 0;
  const deadline = wheel.create(() => fired++);
  deadline.arm(20);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fired, 1);
  deadline.dispose();
  assert.equal(wheel.size, 0);
});

Deno.test("Deadline disarmed in time never fires", async () => {
  const wheel = new DeadlineWheel();
  let fired = 0;
  const deadline = wheel.create(() => fired++);
  deadline.arm(150);
  deadline.disarm();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fired, 0);
  deadline.dispose();
});
