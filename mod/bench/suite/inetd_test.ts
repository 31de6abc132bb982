import assert from "node:assert/strict";
import { percentile, roundRatios } from "./inetd.ts";

Deno.test("percentile() interpolates between the nearest ranks", () => {
  assert.equal(percentile([5], 50), 5);
  assert.equal(percentile([3, 1, 2], 50), 2);
  assert.equal(percentile([4, 1, 3, 2], 50), 2.5);
  assert.equal(percentile([10, 20, 30, 40, 50], 0), 10);
  assert.equal(percentile([10, 20, 30, 40, 50], 100), 50);
  assert.equal(percentile([10, 20, 30, 40, 50], 90), 46);
});

Deno.test("percentile() leaves its input in order", () => {
  const values = [3, 1, 2];
  percentile(values, 50);
  assert.deepEqual(values, [3, 1, 2]);
});

Deno.test("percentile() rejects no values, NaN and p outside 0-100", () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1, NaN], 50), RangeError);
  assert.throws(() => percentile([1], -1), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], NaN), RangeError);
});

Deno.test("roundRatios() divides the medians of each round, then takes their median", () => {
  const { ratio, ratios } = roundRatios(
    [[30, 20, 10], [40, 40, 41], [25, 35]],
    [[10, 10, 10], [10, 20, 30], [10, 10]],
  );
  assert.deepEqual(ratios, [2, 2, 3]);
  assert.equal(ratio, 2);
});

Deno.test("roundRatios() rejects rounds that do not pair up", () => {
  assert.throws(() => roundRatios([[1]], []), RangeError);
  assert.throws(() => roundRatios([], []), RangeError);
});
