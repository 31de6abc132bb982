import assert from "node:assert/strict";
import { ignoring, ignoringAsync, isOneOf } from "./errors.ts";

class RouteError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

Deno.test("isOneOf() matches one class, a list, subclasses and nothing else", () => {
  const closed = new Deno.errors.BadResource("Bad resource ID");
  assert.equal(isOneOf(closed, Deno.errors.BadResource), true);
  assert.equal(
    isOneOf(closed, [Deno.errors.BrokenPipe, Deno.errors.BadResource]),
    true,
  );
  assert.equal(isOneOf(closed, Error), true);
  assert.equal(isOneOf(closed, [Deno.errors.BrokenPipe]), false);
  assert.equal(isOneOf(closed, []), false);
  assert.equal(isOneOf(new TypeError("x"), Deno.errors.BadResource), false);
  assert.equal(isOneOf(new RouteError(404, "x"), RouteError), true);
});

Deno.test("isOneOf() is false for thrown values that are not objects", () => {
  for (const value of ["BadResource", undefined, null, 42]) {
    assert.equal(isOneOf(value, [Deno.errors.BadResource, Error]), false);
  }
});

Deno.test("ignoring() swallows an expected error and returns undefined", () => {
  const result = ignoring(Deno.errors.BadResource, (): number => {
    throw new Deno.errors.BadResource("Bad resource ID");
  });
  assert.equal(result, undefined);
});

Deno.test("ignoring() returns the result when nothing is thrown", () => {
  assert.equal(ignoring([Deno.errors.NotFound], () => 7), 7);
});

Deno.test("ignoring() rethrows an unexpected TypeError unchanged", () => {
  const bug = new TypeError("Cannot read properties of undefined");
  assert.throws(
    () =>
      ignoring([Deno.errors.BadResource, Deno.errors.BrokenPipe], () => {
        throw bug;
      }),
    (error) => error === bug,
  );
});

Deno.test("ignoring() closes a really closed Deno resource twice quietly", () => {
  const file = Deno.openSync(Deno.execPath());
  file.close();
  assert.throws(() => file.close(), Deno.errors.BadResource);
  assert.equal(
    ignoring(Deno.errors.BadResource, () => file.close()),
    undefined,
  );
});

Deno.test("ignoring() refuses a function that returns a promise", async () => {
  let rejected: Promise<never> | undefined;
  assert.throws(
    () =>
      ignoring(Deno.errors.BrokenPipe, () => {
        rejected = Promise.reject(new Deno.errors.BrokenPipe("gone"));
        return rejected;
      }),
    TypeError,
  );
  await assert.rejects(rejected!, Deno.errors.BrokenPipe);
});

Deno.test("ignoringAsync() resolves undefined for an expected rejection", async () => {
  const result = await ignoringAsync(
    [Deno.errors.ConnectionReset, Deno.errors.BrokenPipe],
    () => Promise.reject(new Deno.errors.BrokenPipe("Broken pipe")),
  );
  assert.equal(result, undefined);
});

Deno.test("ignoringAsync() resolves the value when nothing fails", async () => {
  assert.equal(
    await ignoringAsync(Deno.errors.NotFound, () => Promise.resolve("ok")),
    "ok",
  );
});

Deno.test("ignoringAsync() rejects with an unexpected TypeError unchanged", async () => {
  const bug = new TypeError("x is not a function");
  await assert.rejects(
    ignoringAsync(Deno.errors.BadResource, async () => {
      await Promise.resolve();
      throw bug;
    }),
    (error) => error === bug,
  );
});

Deno.test("ignoringAsync() checks a synchronous throw the same way", async () => {
  assert.equal(
    await ignoringAsync(Deno.errors.NotFound, (): Promise<void> => {
      throw new Deno.errors.NotFound("gone");
    }),
    undefined,
  );
  await assert.rejects(
    ignoringAsync(Deno.errors.NotFound, (): Promise<void> => {
      throw new RangeError("bad index");
    }),
    RangeError,
  );
});

Deno.test("ignoringAsync() swallows what a closed web stream really rejects with", async () => {
  const writer = new WritableStream<Uint8Array>().getWriter();
  await writer.close();
  // A second close() rejects with a TypeError (Deno 2.9.6).
  await assert.rejects(writer.close(), TypeError);
  assert.equal(await ignoringAsync(TypeError, () => writer.close()), undefined);
});
