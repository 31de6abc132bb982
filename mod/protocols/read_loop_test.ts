import assert from "node:assert/strict";
import type { AccessRecord } from "./contract.ts";
import { FakeTransport } from "./_fake_transport.ts";
import { serveSession, type Session } from "./read_loop.ts";

/** Answers every read with "ok". */
const echoOk: Session = {
  hasPartial: false,
  closeWith: undefined,
  receive: () => new TextEncoder().encode("ok"),
};

/** A transport whose reads reject with `error` after its script. */
class FailingReads extends FakeTransport {
  #error: unknown;
  constructor(chunks: string[], error: unknown) {
    super(chunks);
    this.#error = error;
  }
  override read(buffer: Uint8Array): Promise<number | null> {
    return this.writes.length === 0
      ? super.read(buffer)
      : Promise.reject(this.#error);
  }
}

function serve(transport: FakeTransport): {
  records: AccessRecord[];
  done: Promise<void>;
} {
  const records: AccessRecord[] = [];
  const done = serveSession(
    transport,
    {
      info: { peer: "p", local: "l" },
      draining: new AbortController().signal,
      access: (record) => records.push(record),
    },
    echoOk,
    { protocol: "test", idleMs: 10_000, bufferSize: 64 },
  );
  return { records, done };
}

Deno.test("serveSession() ends normally when a read fails with a reset", async () => {
  const reset = new Deno.errors.ConnectionReset("Connection reset by peer");
  const transport = new FailingReads(["hi"], reset);
  const { records, done } = serve(transport);
  await done;
  assert.ok(transport.closed);
  assert.equal(records[0]?.outcome, "closed normally");
  assert.equal(records[0]?.bytesOut, 2);
});

Deno.test("serveSession() rejects with a bug in a read, recorded as an error", async () => {
  const bug = new TypeError("Cannot read properties of undefined");
  const transport = new FailingReads(["hi"], bug);
  const { records, done } = serve(transport);
  await assert.rejects(done, (error) => error === bug);
  assert.ok(transport.closed);
  assert.equal(records[0]?.outcome, "error");
});

Deno.test("serveSession() rejects with a bug in a write, recorded as an error", async () => {
  const bug = new RangeError("offset is out of bounds");
  const transport = new FakeTransport(["hi"]);
  transport.write = () => Promise.reject(bug);
  const { records, done } = serve(transport);
  await assert.rejects(done, (error) => error === bug);
  assert.equal(records[0]?.outcome, "error");
});

Deno.test("serveSession() records a failed write of a client that left", async () => {
  const transport = new FakeTransport(["hi"]);
  transport.write = () =>
    Promise.reject(new Deno.errors.BrokenPipe("Broken pipe (os error 32)"));
  const { records, done } = serve(transport);
  await done;
  assert.equal(records[0]?.outcome, "closed before the answer was sent");
});
