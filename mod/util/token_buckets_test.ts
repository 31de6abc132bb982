import assert from "node:assert/strict";
import {
  DEFAULT_ENTRIES,
  hashKey,
  TokenBuckets,
  WAYS,
} from "./token_buckets.ts";

/** A table on a clock the test moves. */
function table(entries = 64) {
  const clock = { now: 1_000_000 };
  const buckets = TokenBuckets.allocate({ entries, clock: () => clock.now });
  return { buckets, clock };
}

Deno.test("TokenBuckets.take() spends a full bucket, then one token per 1/rate s", () => {
  const { buckets, clock } = table();
  const limit = { rate: 10, capacity: 3 };
  for (let i = 0; i < 3; i++) assert.equal(buckets.take("a", limit), 0);
  assert.equal(buckets.take("a", limit), 0.1, "a token comes in 100 ms");
  clock.now += 50;
  assert.ok(Math.abs(buckets.take("a", limit) - 0.05) < 1e-9, "50 ms left");
  clock.now += 50;
  assert.equal(buckets.take("a", limit), 0);
  assert.ok(buckets.take("a", limit) > 0);
  clock.now += 60_000;
  for (let i = 0; i < 3; i++) assert.equal(buckets.take("a", limit), 0);
  assert.ok(buckets.take("a", limit) > 0, "never more than capacity");
});

Deno.test("TokenBuckets.take() keeps one bucket per key", () => {
  const { buckets } = table();
  const limit = { rate: 1, capacity: 1 };
  assert.equal(buckets.take("10.0.0.1", limit), 0);
  assert.equal(buckets.take("10.0.0.1", limit), 1);
  assert.equal(buckets.take("10.0.0.2", limit), 0);
  assert.equal(buckets.size, 2);
});

Deno.test("TokenBuckets.take() with a rate under 1/s waits whole seconds", () => {
  const { buckets, clock } = table();
  const limit = { rate: 0.25, capacity: 1 };
  assert.equal(buckets.take("a", limit), 0);
  assert.equal(buckets.take("a", limit), 4);
  clock.now += 3000;
  assert.equal(buckets.take("a", limit), 1);
});

Deno.test("TokenBuckets.take() never counts time that runs back", () => {
  const { buckets, clock } = table();
  const limit = { rate: 1, capacity: 1 };
  assert.equal(buckets.take("a", limit), 0);
  clock.now -= 10_000;
  assert.equal(buckets.take("a", limit), 1);
});

Deno.test("TokenBuckets reuses a refilled entry before forgetting a limited client", () => {
  // One set: WAYS entries.
  const { buckets, clock } = table(WAYS);
  const limit = { rate: 1, capacity: 1 };
  for (let i = 0; i < WAYS; i++) buckets.take(`old${i}`, limit);
  clock.now += 500;
  // A client limited now (its bucket is empty)...
  buckets.take("hot", limit);
  clock.now += 600;
  // ...the old ones have refilled meanwhile and make room first.
  for (let i = 0; i < WAYS - 1; i++) buckets.take(`new${i}`, limit);
  assert.equal(buckets.take("hot", limit) > 0, true, "hot is still limited");
  assert.equal(buckets.size, WAYS);
});

Deno.test("TokenBuckets forgets the least recently counted client when all are limited", () => {
  const { buckets, clock } = table(WAYS);
  const limit = { rate: 0.001, capacity: 1 };
  for (let i = 0; i < WAYS; i++) {
    buckets.take(`c${i}`, limit);
    clock.now += 1;
  }
  buckets.take("c0", limit); // c0 counted last now: c1 is the oldest
  buckets.take("newcomer", limit);
  assert.ok(buckets.take("c0", limit) > 0, "c0 remembered");
  assert.equal(buckets.take("c1", limit), 0, "c1 forgotten: a full bucket");
});

Deno.test("TokenBuckets holds at most its entries for 100,000 distinct sources", () => {
  const buckets = TokenBuckets.allocate();
  const limit = { rate: 1, capacity: 1 };
  for (let i = 0; i < 100_000; i++) {
    const address = `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(buckets.take(address, limit), 0);
  }
  assert.equal(buckets.entries, DEFAULT_ENTRIES);
  assert.ok(buckets.size <= DEFAULT_ENTRIES, `${buckets.size} entries`);
  // The sets fill unevenly, but the table is used, not left sparse.
  assert.ok(buckets.size > DEFAULT_ENTRIES * 0.9, `${buckets.size} entries`);
  // The latest sources are all remembered.
  for (let i = 99_000; i < 100_000; i++) {
    const address = `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.ok(buckets.take(address, limit) > 0, address);
  }
});

Deno.test("TokenBuckets in a SharedArrayBuffer is one table for every mapping", () => {
  const bytes = TokenBuckets.byteLength(64);
  const buffer = new SharedArrayBuffer(8 + bytes);
  const clock = () => 5000;
  const one = TokenBuckets.create(buffer, {
    byteOffset: 8,
    entries: 64,
    clock,
  });
  const two = TokenBuckets.attach(buffer, { byteOffset: 8, clock });
  const limit = { rate: 1, capacity: 2 };
  assert.equal(one.take("a", limit), 0);
  assert.equal(two.take("a", limit), 0);
  assert.ok(one.take("a", limit) > 0, "two mappings share the bucket");
  assert.equal(two.size, 1);
  assert.equal(two.entries, 64);
});

Deno.test("TokenBuckets refuses a layout that does not fit", () => {
  assert.throws(
    () => TokenBuckets.create(new ArrayBuffer(64), { byteOffset: 0 }),
    RangeError,
  );
  assert.throws(
    () => TokenBuckets.create(new ArrayBuffer(4096), { byteOffset: 4 }),
    RangeError,
  );
  assert.throws(
    () => TokenBuckets.attach(new ArrayBuffer(64), { byteOffset: 0 }),
    RangeError,
  );
  assert.throws(() => TokenBuckets.allocate({ entries: 0 }), RangeError);
});

Deno.test("hashKey() separates the addresses of a /16", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 65_536; i++) {
    const [a, b] = hashKey(`10.1.${i >> 8}.${i & 255}`);
    assert.notEqual(a, 0);
    seen.add(`${a},${b}`);
  }
  assert.equal(seen.size, 65_536);
});

Deno.test("TokenBuckets under a flood read on a 1 ms clock allows exactly the rate", () => {
  // Every refusal adding its tenth of a token would round ten tenths to
  // less than one, and allow one request per 11 ms instead of 10.
  const { buckets, clock } = table();
  const limit = { rate: 100, capacity: 1 };
  let allowed = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    for (let i = 0; i < 5; i++) {
      if (buckets.take("flood", limit) === 0) allowed++;
    }
    clock.now += 1;
  }
  assert.equal(allowed, 1 + 999, "one at once, then one per 10 ms");
});
