import assert from "node:assert/strict";
import { configOf } from "../../config/_testing.ts";
import { fakeContext, FakeTransport } from "../_fake_transport.ts";
import { BUILT_IN_TABLE } from "./aphorisms.ts";
import { createZenHandler, zen as zenProtocol } from "./zen.ts";
import { metrics } from "../../metrics/registry.ts";
import { shareRequestGate } from "../request_rate.ts";

function handler(zen: Record<string, unknown> = {}) {
  return createZenHandler({
    settings: configOf({ zen }).config.zen,
    aphorisms: BUILT_IN_TABLE,
    state: { draining: false },
  });
}

/** A handler with `[http] request_rate` and `request_burst`, as the registry picks them. */
function limitedHandler(rate: number, burst: number) {
  return createZenHandler({
    settings: zenProtocol.settings(
      configOf({ http: { request_rate: rate, request_burst: burst } }).config,
    ),
    aphorisms: BUILT_IN_TABLE,
    state: { draining: false },
  });
}

/** A context from `peer`. */
function contextFrom(peer: string) {
  const context = fakeContext();
  context.info = { peer, local: "127.0.0.1:1060" };
  return context;
}

const Q = "Beautiful is better than?";
const LIMITED = 'koan_requests_limited_total{protocol="zen"}';

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

Deno.test("serveZen answers a pipelined batch longer than a read buffer, one write per read", async () => {
  const questions = Array.from(
    { length: 100 },
    (_, i) => i % 2 ? "Simple is better than?" : "Flat is better than?\r\n",
  );
  const answers = Array.from(
    { length: 100 },
    (_, i) => i % 2 ? "complex." : "nested.",
  );
  const transport = new FakeTransport([questions.join("")]);
  const context = fakeContext();
  await handler()(transport, context);
  // 512 bytes, then the rest in one read of the borrowed large buffer.
  assert.equal(transport.writes.length, 2);
  assert.equal(transport.text, answers.join(""));
  assert.equal(context.records[0]?.requests, 100);
  assert.equal(context.records[0]?.outcome, "closed normally");
});

Deno.test("serveZen keeps each batch's answers whole though reply buffers are reused", async () => {
  const transport = new FakeTransport([
    "Beautiful is better than?Explicit is better than?",
    "Readability?Nope?Readability?",
    "Now is better than?Flat is better than?",
  ]);
  await handler()(transport, fakeContext());
  assert.deepEqual(
    transport.writes.map((w) => new TextDecoder().decode(w)),
    [
      "ugly.implicit.",
      "counts.Error: unknown aphorism.counts.",
      "never.nested.",
    ],
  );
});

Deno.test("serveZen answers a long question split over many reads", async () => {
  const long = "Is this " + "very ".repeat(400) + "long?";
  const pieces: string[] = [];
  for (let at = 0; at < long.length; at += 300) {
    pieces.push(long.slice(at, at + 300));
  }
  const transport = new FakeTransport([...pieces, " Readability?"]);
  const context = fakeContext();
  await handler({ max_question: 4096 })(transport, context);
  assert.equal(transport.text, "Error: unknown aphorism.counts.");
  assert.equal(context.records[0]?.requests, 2);
});

Deno.test("serveZen answers the questions before a too-long one, then the error, in one write", async () => {
  const transport = new FakeTransport([
    "Readability? " + "x".repeat(40) + "?",
    "Readability?",
  ]);
  const context = fakeContext();
  await handler({ max_question: 32 })(transport, context);
  assert.deepEqual(
    transport.writes.map((w) => new TextDecoder().decode(w)),
    ["counts.Error: question too long."],
  );
  assert.equal(context.records[0]?.outcome, "question too long");
  assert.equal(context.records[0]?.requests, 1);
});

Deno.test("serveZen answers 'Error: slow down.' past request_rate and keeps the connection", async () => {
  const before = metrics.snapshot().counters[LIMITED] ?? 0;
  const transport = new FakeTransport([Q.repeat(3), "Flat is better than?"]);
  const context = contextFrom("192.0.2.71:5555");
  await limitedHandler(0.5, 1)(transport, context);
  assert.deepEqual(transport.writes.length, 2, "both reads answered");
  assert.equal(
    transport.text,
    "ugly.ugly.Error: slow down.Error: slow down.",
  );
  assert.equal(context.records[0]?.outcome, "closed normally");
  assert.equal(
    context.records[0]?.requests,
    2,
    "slowed questions are not answered ones",
  );
  assert.equal(metrics.snapshot().counters[LIMITED], before + 2);
});

Deno.test("serveZen counts each client's questions apart", async () => {
  const handle = limitedHandler(0.5, 0);
  for (const peer of ["192.0.2.72:1", "192.0.2.73:1"]) {
    const transport = new FakeTransport([Q + Q]);
    await handle(transport, contextFrom(peer));
    assert.equal(transport.text, "ugly.Error: slow down.", peer);
  }
});

Deno.test("serveZen waits for a gate in another process, in question order", async () => {
  const asked: string[] = [];
  let left = 2;
  shareRequestGate({
    take: (client) => {
      asked.push(client);
      return new Promise((resolve) =>
        setTimeout(() => resolve(left-- > 0 ? 0 : 1), 1)
      );
    },
  });
  try {
    const transport = new FakeTransport([Q + "Flat is better than?" + Q]);
    const context = contextFrom("[2001:db8::5]:4242");
    await limitedHandler(10, 0)(transport, context);
    assert.equal(
      transport.text,
      "ugly.nested.Error: slow down.",
    );
    assert.deepEqual(asked, ["2001:db8::5", "2001:db8::5", "2001:db8::5"]);
  } finally {
    shareRequestGate(undefined);
  }
});
