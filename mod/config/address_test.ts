import assert from "node:assert/strict";
import { formatAddress, parseAddress } from "./address.ts";

Deno.test("parseAddress() reads host:port, [v6]:port and :port", () => {
  assert.deepEqual(parseAddress("127.0.0.1:1060"), {
    hostname: "127.0.0.1",
    port: 1060,
  });
  assert.deepEqual(parseAddress("[::1]:8080"), { hostname: "::1", port: 8080 });
  assert.deepEqual(parseAddress(":7"), { hostname: "0.0.0.0", port: 7 });
  assert.deepEqual(parseAddress("localhost:65535"), {
    hostname: "localhost",
    port: 65535,
  });
});

Deno.test("parseAddress() rejects ports outside 1..65535 and malformed text", () => {
  for (
    const bad of ["x:0", "x:65536", "x", "x:", "::1:80", "[::1]80", "x:8a"]
  ) {
    assert.throws(() => parseAddress(bad), RangeError, bad);
  }
});

Deno.test("formatAddress() brackets IPv6", () => {
  assert.equal(formatAddress({ hostname: "::1", port: 1 }), "[::1]:1");
  assert.equal(formatAddress({ hostname: "1.2.3.4", port: 2 }), "1.2.3.4:2");
});
