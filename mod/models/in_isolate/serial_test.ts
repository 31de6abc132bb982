import assert from "node:assert/strict";
import { buildConfig } from "../../config/load.ts";
import { BUILT_IN_TABLE } from "../../protocols/zen/aphorisms.ts";
import { serialGeneration, servesSerially } from "./serial.ts";

Deno.test("servesSerially() is true for iterative and for pools of concurrency 1 only", async () => {
  const { config } = await buildConfig({
    listener: [
      { model: "iterative" },
      { model: "threads", concurrency: 1 },
      { model: "processes", concurrency: 1 },
      { model: "threads", concurrency: 2 },
      { model: "processes" },
      { model: "async" },
      { model: "thread-per-connection" },
      { model: "process-per-connection" },
    ],
  });
  assert.deepEqual(
    config.listener.map(servesSerially),
    [true, true, true, false, false, false, false, false],
  );
});

Deno.test("serialGeneration() caps idle_timeout and keepalive_timeout by serial_idle", async () => {
  const { config } = await buildConfig({
    zen: { idle_timeout: 60 },
    http: { keepalive_timeout: 15, header_timeout: 10 },
    limits: { serial_idle: 2 },
  });
  const capped = serialGeneration({ config, aphorisms: BUILT_IN_TABLE });
  assert.equal(capped.config.zen.idle_timeout, 2);
  assert.equal(capped.config.http.keepalive_timeout, 2);
  assert.equal(capped.config.http.header_timeout, 10, "a request on its way");
  assert.equal(config.zen.idle_timeout, 60, "the generation is not changed");
});

Deno.test("serialGeneration() passes serial_idle = 0 through and keeps shorter limits", async () => {
  const zero = await buildConfig({ limits: { serial_idle: 0 } });
  const capped = serialGeneration({
    config: zero.config,
    aphorisms: BUILT_IN_TABLE,
  });
  assert.equal(capped.config.zen.idle_timeout, 0);
  assert.equal(capped.config.http.keepalive_timeout, 0);
  const short = await buildConfig({
    zen: { idle_timeout: 0.5 },
    http: { keepalive_timeout: 0.5 },
    limits: { serial_idle: 5 },
  });
  const generation = { config: short.config, aphorisms: BUILT_IN_TABLE };
  assert.equal(serialGeneration(generation), generation, "nothing to cap");
});
