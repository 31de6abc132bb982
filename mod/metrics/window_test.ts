import assert from "node:assert/strict";
import { quantileMs } from "./window.ts";

Deno.test("quantileMs() is null when no request finished", () => {
  assert.equal(quantileMs([], 0.5), null);
  assert.equal(quantileMs([0, 0, 0], 0.99), null);
  assert.equal(quantileMs([0, 1], 0.5), 1);
});
