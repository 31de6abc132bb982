import assert from "node:assert/strict";
import { Deadline, DeadlineWheel, type Expiry } from "./deadline.ts";

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

Deno.test("Deadline subclass gets expire('time') without a callback", async () => {
  const wheel = new DeadlineWheel();
  const seen: Expiry[] = [];
  class Idle extends Deadline {
    protected override expire(why: Expiry): void {
      seen.push(why);
    }
  }
  const idle = new Idle(wheel);
  idle.arm(10);
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(seen, ["time"]);
  assert.equal(idle.at, Infinity);
  idle.dispose();
  assert.equal(wheel.size, 0);
});

Deno.test("Deadline.signal fires once with 'signal' when it aborts, keeping the time armed", async () => {
  const wheel = new DeadlineWheel();
  const seen: Expiry[] = [];
  class Watch extends Deadline {
    protected override expire(why: Expiry): void {
      seen.push(why);
    }
  }
  const watch = new Watch(wheel);
  const drain = new AbortController();
  watch.signal = drain.signal;
  watch.arm(60_000);
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(seen, []);
  drain.abort();
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(seen, ["signal"]);
  assert.equal(watch.signal, undefined);
  assert.ok(watch.at < Infinity);
  watch.dispose();
});

Deno.test("Deadline.dispose() leaves the wheel until armed again", () => {
  const wheel = new DeadlineWheel();
  const deadline = wheel.create(() => {});
  deadline.arm(1000);
  assert.equal(wheel.size, 1);
  deadline.dispose();
  assert.equal(wheel.size, 0);
  deadline.dispose();
  deadline.arm(1000);
  deadline.arm(2000);
  assert.equal(wheel.size, 1);
  deadline.dispose();
  assert.equal(wheel.size, 0);
});
