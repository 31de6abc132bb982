import assert from "node:assert/strict";
import { uvError } from "./fd_tcp.ts";

Deno.test("uvError() maps a known uv status to its Deno error", () => {
  const error = uvError(-98, "cannot bind 127.0.0.1:1060");
  assert.ok(error instanceof Deno.errors.AddrInUse);
  assert.equal(
    error.message,
    "cannot bind 127.0.0.1:1060: EADDRINUSE (os error 98)",
  );
});

Deno.test("uvError() names a status that is no known errno by its number", () => {
  // getSystemErrorName() returns undefined for an unknown negative errno
  // and throws RangeError for anything else (Deno 2.9.6).
  assert.equal(
    uvError(-9999, "cannot listen").message,
    "cannot listen: error -9999 (os error 9999)",
  );
  assert.equal(uvError(5, "odd").message, "odd: error 5 (os error -5)");
});
