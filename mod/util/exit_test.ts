import assert from "node:assert/strict";
import { EXIT } from "./exit.ts";

Deno.test("EXIT gives the codes DESIGN §2 names", () => {
  assert.deepEqual(EXIT, { ok: 0, failure: 1, usage: 2, workerBoot: 3 });
});
