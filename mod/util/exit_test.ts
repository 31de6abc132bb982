import assert from "node:assert/strict";
import { EXIT as DAEMON_EXIT } from "../daemon/daemon.ts";
import { EXIT } from "./exit.ts";

Deno.test("EXIT gives the codes DESIGN §2 names, the daemon's own", () => {
  assert.deepEqual(EXIT, { ok: 0, failure: 1, usage: 2, workerBoot: 3 });
  assert.deepEqual(DAEMON_EXIT, EXIT);
});
