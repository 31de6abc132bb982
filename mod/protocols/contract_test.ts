import assert from "node:assert/strict";
import { isConnectionError, writeFailure } from "./contract.ts";

Deno.test("isConnectionError() takes the errors a closed or reset connection gives", async () => {
  // What a real Deno.Conn rejects with once closed here (Deno 2.9.6): a
  // read pending at the close (Interrupted), a write after it (BadResource).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await listener.accept();
  listener.close();
  const pending = server.read(new Uint8Array(8));
  server.close();
  const real = [
    await pending.catch((error) => error),
    await server.write(new Uint8Array(1)).catch((error) => error),
  ];
  client.close();
  assert.ok(real[0] instanceof Deno.errors.Interrupted);
  assert.ok(real[1] instanceof Deno.errors.BadResource);
  const node = Object.assign(new Error("read ECONNRESET"), {
    code: "ECONNRESET",
  });
  const timeout = Object.assign(new Error("stalled"), {
    name: "SendTimeoutError",
  });
  for (
    const error of [
      ...real,
      new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      new Deno.errors.ConnectionReset("Connection reset by peer"),
      node,
      timeout,
      new Error("Connection is closed"),
      // Deno reports EINVAL as a TypeError with its errno.
      Object.assign(new TypeError("Invalid argument (os error 22)"), {
        code: "EINVAL",
      }),
    ]
  ) {
    assert.equal(isConnectionError(error), true, String(error));
  }
});

Deno.test("isConnectionError() rejects mistakes and things that are not errors", () => {
  for (
    const error of [
      new TypeError("Cannot read properties of undefined"),
      new RangeError("offset is out of bounds"),
      new ReferenceError("x is not defined"),
      new SyntaxError("Unexpected token"),
      // A node argument check has a code, but not an errno.
      Object.assign(new TypeError("bad"), { code: "ERR_INVALID_ARG_TYPE" }),
      "closed",
      undefined,
      null,
    ]
  ) {
    assert.equal(isConnectionError(error), false, String(error));
  }
});

Deno.test("writeFailure() tells a send timeout from a client that left", () => {
  const timeout = Object.assign(new Error("stalled"), {
    name: "SendTimeoutError",
  });
  assert.equal(writeFailure(timeout), "send timeout");
  assert.equal(
    writeFailure(new Deno.errors.BrokenPipe("gone")),
    "closed before the answer was sent",
  );
});
