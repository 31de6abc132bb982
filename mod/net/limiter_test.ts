import assert from "node:assert/strict";
import fc from "fast-check";
import { limiterSettings, LocalLimiter, SharedLimiter } from "./limiter.ts";
import { metrics } from "../metrics/registry.ts";
import { DEFAULT_ENTRIES } from "../util/token_buckets.ts";

/** A LocalLimiter whose rate table runs on a clock the test moves. */
function clocked(settings: ConstructorParameters<typeof LocalLimiter>[0]) {
  const clock = { now: 0 };
  return {
    limiter: new LocalLimiter(settings, { clock: () => clock.now }),
    clock,
  };
}

/** `n` distinct loopback sources. */
function sources(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  );
}

const SOURCES_GAUGE = 'koan_rate_limit_sources{limit="rate_per_source"}';

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
        rateEntries: 8,
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

Deno.test("limiterSettings() reads [limits], the connection rate included", () => {
  assert.deepEqual(
    limiterSettings({
      max_connections: 10,
      max_per_source: 2,
      rate_per_source: 5,
      rate_burst: 3,
    }),
    { maxConnections: 10, maxPerSource: 2, ratePerSource: 5, rateBurst: 3 },
  );
});

Deno.test("LocalLimiter admits rate + burst connections from a source at once, then refuses rate_per_source", () => {
  const { limiter, clock } = clocked({
    maxConnections: 100,
    maxPerSource: 0,
    ratePerSource: 5,
    rateBurst: 2,
  });
  for (let i = 0; i < 7; i++) {
    assert.equal(limiter.admit("10.0.0.1"), undefined);
  }
  assert.equal(limiter.admit("10.0.0.1"), "rate_per_source");
  assert.equal(limiter.admit("10.0.0.2"), undefined, "another source");
  // A release gives no token back: the rate counts connections opened.
  limiter.release("10.0.0.1");
  assert.equal(limiter.admit("10.0.0.1"), "rate_per_source");
  clock.now += 200;
  assert.equal(limiter.admit("10.0.0.1"), undefined, "one token in 1/5 s");
  assert.equal(limiter.admit("10.0.0.1"), "rate_per_source");
  clock.now += 1000;
  for (let i = 0; i < 5; i++) {
    assert.equal(limiter.admit("10.0.0.1"), undefined);
  }
  assert.equal(limiter.admit("10.0.0.1"), "rate_per_source");
  assert.equal(limiter.open, 13);
});

Deno.test("LocalLimiter takes no token for a connection refused by another limit", () => {
  const { limiter } = clocked({
    maxConnections: 100,
    maxPerSource: 1,
    ratePerSource: 2,
    rateBurst: 0,
  });
  assert.equal(limiter.admit("a"), undefined);
  for (let i = 0; i < 5; i++) {
    assert.equal(limiter.admit("a"), "max_per_source");
  }
  limiter.release("a");
  assert.equal(limiter.admit("a"), undefined, "the second token is left");
  limiter.release("a");
  assert.equal(limiter.admit("a"), "rate_per_source");
  assert.equal(limiter.open, 0, "a refusal counts nothing open");
});

Deno.test("LocalLimiter with a fractional rate still admits one connection", () => {
  const { limiter, clock } = clocked({
    maxConnections: 10,
    maxPerSource: 0,
    ratePerSource: 0.5,
  });
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.admit("a"), "rate_per_source");
  clock.now += 2000;
  assert.equal(limiter.admit("a"), undefined);
});

Deno.test("LocalLimiter.update() turns the connection rate on and off", () => {
  const { limiter } = clocked({ maxConnections: 10, maxPerSource: 0 });
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.admit("a"), undefined);
  limiter.update({ maxConnections: 10, maxPerSource: 0, ratePerSource: 1 });
  assert.equal(limiter.admit("a"), undefined);
  assert.equal(limiter.admit("a"), "rate_per_source");
  limiter.update({ maxConnections: 10, maxPerSource: 0, ratePerSource: 0 });
  assert.equal(limiter.admit("a"), undefined);
});

Deno.test("LocalLimiter keeps connection-rate state for at most DEFAULT_ENTRIES of 100,000 sources", () => {
  const limiter = new LocalLimiter({
    maxConnections: 1_000_000,
    maxPerSource: 0,
    ratePerSource: 1,
  });
  for (const source of sources(100_000)) {
    assert.equal(limiter.admit(source), undefined);
  }
  assert.ok(limiter.sources <= DEFAULT_ENTRIES, `${limiter.sources}`);
  assert.ok(limiter.sources > DEFAULT_ENTRIES * 0.9, `${limiter.sources}`);
  assert.ok(
    metrics.snapshot().gauges[SOURCES_GAUGE]! >= limiter.sources,
    "exported as koan_rate_limit_sources",
  );
});

Deno.test("SharedLimiter counts a source's connection rate over every slot", () => {
  const controller = SharedLimiter.create({
    maxConnections: 100,
    maxPerSource: 0,
    ratePerSource: 1,
    rateBurst: 2,
  }, { slots: 4 });
  const one = SharedLimiter.attach(controller.buffer, 0);
  const two = SharedLimiter.attach(controller.buffer, 1);
  assert.equal(one.admit("10.0.0.1"), undefined);
  assert.equal(two.admit("10.0.0.1"), undefined);
  assert.equal(one.admit("10.0.0.1"), undefined);
  assert.equal(two.admit("10.0.0.1"), "rate_per_source");
  assert.equal(one.admit("10.0.0.1"), "rate_per_source");
  assert.equal(two.admit("10.0.0.2"), undefined);
  assert.equal(controller.sources, 2);
  assert.equal(controller.open, 4);
  // A dead worker's connections go back; the rate state stays.
  controller.releaseSlot(0);
  assert.equal(two.admit("10.0.0.1"), "rate_per_source");
  controller.update({ maxConnections: 100, maxPerSource: 0 });
  assert.equal(two.admit("10.0.0.1"), undefined, "rate off after a reload");
});

Deno.test("SharedLimiter takes no rate token for a connection refused by max_per_source", () => {
  const controller = SharedLimiter.create({
    maxConnections: 100,
    maxPerSource: 1,
    ratePerSource: 1,
    rateBurst: 1,
  }, { slots: 2 });
  const one = SharedLimiter.attach(controller.buffer, 0);
  assert.equal(one.admit("a"), undefined);
  assert.equal(one.admit("a"), "max_per_source");
  assert.equal(one.admit("a"), "max_per_source");
  one.release("a");
  assert.equal(one.admit("a"), undefined, "the burst token is left");
  one.release("a");
  assert.equal(one.admit("a"), "rate_per_source");
});

Deno.test("SharedLimiter.requests is one request-rate table for every slot", () => {
  const controller = SharedLimiter.create({
    maxConnections: 1,
    maxPerSource: 0,
  }, { slots: 2 });
  const one = SharedLimiter.attach(controller.buffer, 0);
  const two = SharedLimiter.attach(controller.buffer, 1);
  const limit = { rate: 1, capacity: 2 };
  assert.equal(one.requests.take("a", limit), 0);
  assert.equal(two.requests.take("a", limit), 0);
  assert.ok(one.requests.take("a", limit) > 0);
  assert.equal(controller.requests.size, 1);
});

Deno.test("SharedLimiter keeps connection-rate state for at most DEFAULT_ENTRIES of 100,000 sources", () => {
  const controller = SharedLimiter.create({
    maxConnections: 1_000_000,
    maxPerSource: 0,
    ratePerSource: 1,
  }, { slots: 1 });
  const worker = SharedLimiter.attach(controller.buffer, 0);
  for (const source of sources(100_000)) {
    assert.equal(worker.admit(source), undefined);
  }
  assert.ok(controller.sources <= DEFAULT_ENTRIES, `${controller.sources}`);
  assert.ok(controller.sources > DEFAULT_ENTRIES * 0.9);
});
