import assert from "node:assert/strict";
import { buildConfig } from "../../config/load.ts";
import { fakeContext, FakeTransport } from "../_fake_transport.ts";
import { BUILT_IN_TABLE } from "./aphorisms.ts";
import { createZenHandler } from "./zen.ts";

function handler(zen: Record<string, unknown> = {}) {
  return createZenHandler({
    settings: buildConfig({ zen }).config.zen,
    aphorisms: BUILT_IN_TABLE,
    state: { draining: false },
  });
}

Deno.test("serveZen answers each question of a read in one write, in order", async () => {
  const transport = new FakeTransport([
    "Beautiful is better than?Simple is better than?Nope?",
  ]);
  const context = fakeContext();
  await handler()(transport, context);
  assert.equal(transport.writes.length, 1);
  assert.equal(transport.text, "ugly.complex.Error: unknown aphorism.");
  assert.equal(context.records[0]?.outcome, "closed normally");
  assert.equal(context.records[0]?.requests, 3);
  assert.equal(transport.closed, true);
});

Deno.test("serveZen answers a question split over reads", async () => {
  const transport = new FakeTransport(["Explicit is ", "better ", "than?"]);
  await handler()(transport, fakeContext());
  assert.equal(transport.text, "implicit.");
});

Deno.test("serveZen logs a partial question as such", async () => {
  const transport = new FakeTransport(["Explicit is"]);
  const context = fakeContext();
  await handler()(transport, context);
  assert.equal(transport.text, "");
  assert.equal(
    context.records[0]?.outcome,
    "sent a partial question then closed",
  );
  assert.equal(context.records[0]?.bytesIn, 11);
});

Deno.test("serveZen answers 'Error: question too long.' and closes", async () => {
  const transport = new FakeTransport([
    "x".repeat(40),
    "more?",
    "Readability?",
  ]);
  const context = fakeContext();
  await handler({ max_question: 32 })(transport, context);
  assert.equal(transport.text, "Error: question too long.");
  assert.equal(context.records[0]?.outcome, "question too long");
});

Deno.test("serveZen closes an idle connection after idle_timeout", async () => {
  const transport = new FakeTransport(["Readability?"], false);
  const context = fakeContext();
  await handler({ idle_timeout: 0.2 })(transport, context);
  assert.equal(transport.text, "counts.");
  assert.equal(context.records[0]?.outcome, "idle timeout");
});

Deno.test("serveZen closes an idle connection at once when draining starts", async () => {
  const transport = new FakeTransport(["Readability?"], false);
  const drain = new AbortController();
  const context = fakeContext(drain.signal);
  const done = handler()(transport, context);
  await new Promise((resolve) => setTimeout(resolve, 20));
  drain.abort();
  await done;
  assert.equal(transport.text, "counts.");
  assert.equal(context.records[0]?.outcome, "draining");
});

Deno.test("serveZen finishes the answer in flight when draining starts mid-work", async () => {
  const transport = new FakeTransport(["Readability?"], false);
  const drain = new AbortController();
  const context = fakeContext(drain.signal);
  const done = handler({ work: "sleep", work_ms: 100 })(transport, context);
  await new Promise((resolve) => setTimeout(resolve, 20));
  drain.abort();
  await done;
  assert.equal(transport.text, "counts.");
  assert.equal(context.records[0]?.outcome, "draining");
});

Deno.test("serveZen records a client that left before its answer", async () => {
  const transport = new FakeTransport(["Readability?"]);
  transport.write = () => Promise.reject(new Error("reset"));
  const context = fakeContext();
  await handler()(transport, context);
  assert.equal(
    context.records[0]?.outcome,
    "closed before the answer was sent",
  );
});
