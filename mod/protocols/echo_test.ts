import assert from "node:assert/strict";
import { configOf } from "../config/_testing.ts";
import { fakeContext, FakeTransport } from "./_fake_transport.ts";
import { BUILT_IN_TABLE } from "./zen/aphorisms.ts";
import { createEchoHandler, echo } from "./echo.ts";

const env = (zen: Record<string, unknown> = {}) => ({
  settings: echo.settings(configOf({ zen }).config),
  aphorisms: BUILT_IN_TABLE,
  state: { draining: false },
});

Deno.test("serveEcho returns every byte, binary included", async () => {
  const binary = new Uint8Array(256).map((_, i) => i);
  const transport = new FakeTransport(["hello", binary]);
  const context = fakeContext();
  await createEchoHandler(env())(transport, context);
  assert.deepEqual(transport.writes[0], new TextEncoder().encode("hello"));
  assert.deepEqual(transport.writes[1], binary);
  assert.equal(context.records[0]?.bytesIn, 261);
  assert.equal(context.records[0]?.bytesOut, 261);
});

Deno.test("serveEcho closes after idle_timeout", async () => {
  const transport = new FakeTransport(["x"], false);
  const context = fakeContext();
  await createEchoHandler(env({ idle_timeout: 0.2 }))(transport, context);
  assert.equal(context.records[0]?.outcome, "idle timeout");
});
