import assert from "node:assert/strict";
import fc from "fast-check";
import { LocalLimiter, SharedLimiter } from "./limiter.ts";

Deno.test("LocalLimiter refuses past max_connections and admits again after release", () => {
  const limiter = new LocalLimiter({ maxConnections: 2, maxPerSource: 0 });
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.admit("b"), undefined);
  assert.equal(limiter.admit("c"), "max_connections");
  limiter.release("a");
  assert.equal(limiter.admit("c"), undefined);
  assert.equal(limiter.open, 2);
});

Deno.test("LocalLimiter counts per source when max_per_source is set", () => {
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 1 });
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.admit("a"), "max_per_source");
  assert.equal(limiter.admit("b"), undefined);
  limiter.release("a");
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.open, 2);
});

Deno.test("SharedLimiter holds max_connections across worker slots", () => {
  const controller = SharedLimiter.create({
    maxConnections: 2,
    maxPerSource: 0,
  });
  const one = SharedLimiter.attach(controller.buffer, 0);
  const two = SharedLimiter.attach(controller.buffer, 1);
  assert.equal(one.admit("a"), undefined);
  assert.equal(two.admit("b"), undefined);
  assert.equal(two.admit("c"), "max_connections");
  assert.equal(controller.open, 2);
  one.release("a");
  assert.equal(two.admit("c"), undefined);
});

Deno.test("SharedLimiter counts a source over every slot", () => {
  const controller = SharedLimiter.create({
    maxConnections: 10,
    maxPerSource: 2,
  });
  const one = SharedLimiter.attach(controller.buffer, 0);
  const two = SharedLimiter.attach(controller.buffer, 1);
  assert.equal(one.admit("10.0.0.1"), undefined);
  assert.equal(two.admit("10.0.0.1"), undefined);
  assert.equal(one.admit("10.0.0.1"), "max_per_source");
  assert.equal(two.admit("10.0.0.2"), undefined);
  two.release("10.0.0.1");
  assert.equal(one.admit("10.0.0.1"), undefined);
});

Deno.test("SharedLimiter.releaseSlot() gives back a dead worker's connections", () => {
  const controller = SharedLimiter.create({
    maxConnections: 3,
    maxPerSource: 1,
  });
  const dead = SharedLimiter.attach(controller.buffer, 4);
  const alive = SharedLimiter.attach(controller.buffer, 5);
  assert.equal(dead.admit("a"), undefined);
  assert.equal(dead.admit("b"), undefined);
  assert.equal(alive.admit("c"), undefined);
  assert.equal(alive.admit("a"), "max_connections");
  assert.equal(controller.releaseSlot(4), 2);
  assert.equal(controller.open, 1);
  assert.equal(alive.admit("a"), undefined);
  assert.equal(alive.admit("c"), "max_per_source");
});

Deno.test("SharedLimiter.update() applies to every slot", () => {
  const controller = SharedLimiter.create({
    maxConnections: 1,
    maxPerSource: 0,
  });
  const worker = SharedLimiter.attach(controller.buffer, 0);
  assert.equal(worker.admit("a"), undefined);
  assert.equal(worker.admit("b"), "max_connections");
  controller.update({ maxConnections: 2, maxPerSource: 0 });
  assert.equal(worker.admit("b"), undefined);
});

Deno.test("SharedLimiter refuses admission on the controller", () => {
  const controller = SharedLimiter.create({
    maxConnections: 1,
    maxPerSource: 0,
  });
  assert.throws(() => controller.admit("a"), TypeError);
  assert.throws(
    () => SharedLimiter.attach(controller.buffer, 1024),
    RangeError,
  );
});

Deno.test("SharedLimiter agrees with LocalLimiter on any sequence of admits and releases", () => {
  // A tiny table forces long probe chains and wrap-around deletions.
  const op = fc.record({
    slot: fc.integer({ min: 0, max: 2 }),
    source: fc.integer({ min: 1, max: 40 }).map((n) => `10.0.0.${n}`),
    admit: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 50, maxLength: 300 }), (ops) => {
      const settings = { maxConnections: 44, maxPerSource: 2 };
      const controller = SharedLimiter.create(settings, {
        slots: 3,
        capacity: 64,
      });
      const slots = [0, 1, 2].map((s) =>
        SharedLimiter.attach(controller.buffer, s)
      );
      const model = new LocalLimiter(settings);
      // What each slot holds, so releases are only of admitted connections.
      const held = slots.map(() => [] as string[]);
      for (const { slot, source, admit } of ops) {
        const mine = held[slot]!;
        if (admit || mine.length === 0) {
          const got = slots[slot]!.admit(source);
          assert.equal(got, model.admit(source));
          if (got === undefined) mine.push(source);
        } else {
          const gone = mine.shift()!;
          slots[slot]!.release(gone);
          model.release(gone);
        }
        assert.equal(controller.open, model.open);
      }
    }),
    { numRuns: 300 },
  );
});
