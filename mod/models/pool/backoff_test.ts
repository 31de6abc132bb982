import assert from "node:assert/strict";
import { Backoff } from "./backoff.ts";

Deno.test("Backoff grows by 1.5 and stops at the cap", () => {
  const backoff = new Backoff({ baseMs: 100, capMs: 300 });
  assert.deepEqual(
    [backoff.next(), backoff.next(), backoff.next(), backoff.next()],
    [100, 150, 225, 300],
  );
  assert.equal(backoff.failures, 4);
});

Deno.test("Backoff.reset() starts again from the base", () => {
  const backoff = new Backoff({ baseMs: 50 });
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.next(), 50);
});
