import assert from "node:assert/strict";
import { LocalLimiter } from "./limiter.ts";

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
