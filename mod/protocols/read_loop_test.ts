import assert from "node:assert/strict";
import type { AccessRecord } from "./contract.ts";
import { FakeTransport } from "./_fake_transport.ts";
import {
  READ_SIZE,
  type ReadLoopOptions,
  serveSession,
  type Session,
} from "./read_loop.ts";
import { deadlines } from "../util/deadline.ts";

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
    { protocol: "test", idleMs: 10_000, burstSize: 64 },
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

/** Records the size of every buffer it is asked to read into. */
class SizedReads extends FakeTransport {
  sizes: number[] = [];
  override read(buffer: Uint8Array): Promise<number | null> {
    this.sizes.push(buffer.length);
    return super.read(buffer);
  }
}

/** Answers each read with its length, as text; counts `sent()` calls. */
class Lengths implements Session {
  hasPartial = false;
  closeWith = undefined;
  sentCalls = 0;
  receive(_buffer: Uint8Array, length: number): Uint8Array {
    return new TextEncoder().encode(`${length};`);
  }
  sent(): void {
    this.sentCalls++;
  }
}

function serveWith(
  transport: FakeTransport,
  session: Session,
  options: Partial<ReadLoopOptions> = {},
): { records: AccessRecord[]; done: Promise<void> } {
  const records: AccessRecord[] = [];
  const done = serveSession(
    transport,
    {
      info: { peer: "p", local: "l" },
      draining: new AbortController().signal,
      access: (record) => records.push(record),
    },
    session,
    { protocol: "test", idleMs: 10_000, burstSize: 4096, ...options },
  );
  return { records, done };
}

Deno.test("serveSession() reads into a small buffer and borrows a large one only while reads fill it", async () => {
  const transport = new SizedReads([
    "x".repeat(READ_SIZE), // fills the small buffer: more may be waiting
    "y".repeat(5000), // taken 4096 at a time from the large one
    "z",
    "w",
  ]);
  const session = new Lengths();
  const { records, done } = serveWith(transport, session);
  await done;
  assert.deepEqual(transport.sizes, [
    READ_SIZE,
    4096,
    4096, // got the last 904 of the y's: not full
    READ_SIZE,
    READ_SIZE,
    READ_SIZE, // the end of the stream
  ]);
  assert.equal(transport.text, `${READ_SIZE};4096;904;1;1;`);
  assert.equal(records[0]?.bytesIn, READ_SIZE + 5002);
  assert.equal(session.sentCalls, 5);
});

Deno.test("serveSession() gives burst buffers back for the next connection", async () => {
  const lent: Uint8Array[] = [];
  const session: Session = {
    hasPartial: false,
    closeWith: undefined,
    receive(buffer, length) {
      if (buffer.length === 1000) lent.push(buffer);
      return buffer.subarray(0, length);
    },
  };
  const options = { readSize: 64, burstSize: 1000 };
  const first = new SizedReads(["x".repeat(64), "y".repeat(10)]);
  await serveWith(first, session, options).done;
  assert.deepEqual(first.sizes, [64, 1000, 64]);
  const second = new SizedReads(["z".repeat(64), "w".repeat(3)]);
  await serveWith(second, session, options).done;
  // The same large buffer served both, and only the bytes read count.
  assert.equal(lent.length, 2);
  assert.equal(lent[0], lent[1]);
  assert.equal(second.text, "z".repeat(64) + "www");
});

Deno.test("serveSession() calls sent() after a failed write too", async () => {
  const transport = new FakeTransport(["hi"]);
  transport.write = () =>
    Promise.reject(new Deno.errors.ConnectionReset("reset"));
  const session = new Lengths();
  const { records, done } = serveWith(transport, session);
  await done;
  assert.equal(session.sentCalls, 1);
  assert.equal(records[0]?.outcome, "closed before the answer was sent");
});

Deno.test("serveSession() closes an idle connection soon after draining starts", async () => {
  const idle = new FakeTransport([], false);
  const drain = new AbortController();
  const records: AccessRecord[] = [];
  const done = serveSession(
    idle,
    {
      info: { peer: "p", local: "l" },
      draining: drain.signal,
      access: (record) => records.push(record),
    },
    new Lengths(),
    { protocol: "test", idleMs: 10_000, burstSize: 4096 },
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  drain.abort();
  await done;
  // Noticed at the deadline wheel's next sweep, not after the idle timeout.
  assert.ok(performance.now() - started < 1000);
  assert.equal(records[0]?.outcome, "draining");
  assert.equal(deadlines.size, 0);
});

Deno.test("serveSession() counts answers through the context as each read is answered, and all of them in the record", async () => {
  let answered = 0;
  const counted: number[] = [];
  const session: Session = {
    hasPartial: false,
    closeWith: undefined,
    get answered() {
      return answered;
    },
    receive: (_buffer, length) => {
      // "aa" is two questions in one read, "b" one.
      answered += length;
      return new TextEncoder().encode("ok");
    },
  };
  const records: AccessRecord[] = [];
  await serveSession(
    new FakeTransport(["aa", "b"]),
    {
      info: { peer: "p", local: "l" },
      draining: new AbortController().signal,
      access: (record) => records.push(record),
      answered: (count) => counted.push(count),
    },
    session,
    { protocol: "test", idleMs: 10_000, burstSize: 64 },
  );
  assert.deepEqual(counted, [2, 1]);
  assert.equal(records[0]?.requests, 3, "the access line has them all");
});
