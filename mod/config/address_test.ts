import assert from "node:assert/strict";
import {
  clientAddress,
  formatAddress,
  parseAddress,
  UNIX_PATH_MAX,
  UNIX_STAGING_NAME_BYTES,
} from "./address.ts";

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

Deno.test("parseAddress() reads unix:/path as a unix socket", () => {
  assert.deepEqual(parseAddress("unix:/run/koan/http.sock"), {
    hostname: "",
    port: 0,
    path: "/run/koan/http.sock",
  });
  // The longest path that fits sun_path, in a directory short enough to
  // hold the temporary name the socket is bound under first.
  const longest = `/${"d".repeat(UNIX_PATH_MAX - 20)}/${"s".repeat(18)}`;
  assert.equal(longest.length, UNIX_PATH_MAX);
  assert.equal(parseAddress(`unix:${longest}`).path, longest);
});

Deno.test("parseAddress() rejects relative, directory, overlong and NUL unix paths", () => {
  const cases: [string, RegExp][] = [
    ["unix:run/koan.sock", /no absolute path/],
    ["unix:", /no absolute path/],
    ["unix:8080", /no absolute path/],
    ["unix:/run/koan/", /names a directory/],
    ["unix:/run/ko\0an.sock", /NUL/],
    [`unix:/${"x".repeat(UNIX_PATH_MAX)}`, /108 bytes long; .* 107/],
    [
      `unix:/${"d".repeat(UNIX_PATH_MAX - UNIX_STAGING_NAME_BYTES - 1)}/s`,
      /directory of 95 bytes; .* at most 94/,
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseAddress(text), message, text);
    assert.throws(() => parseAddress(text), RangeError, text);
  }
});

Deno.test("formatAddress() writes a unix socket as unix:/path", () => {
  const text = "unix:/run/koan/http.sock";
  assert.equal(formatAddress(parseAddress(text)), text);
});

Deno.test("clientAddress() refuses a unix socket: the clients speak TCP", () => {
  assert.throws(() => clientAddress("unix:/run/koan/zen.sock"), /over TCP/);
  assert.deepEqual(clientAddress("localhost"), {
    hostname: "localhost",
    port: 1060,
  });
});
