import assert from "node:assert/strict";
import { isLoopbackPeer } from "./loopback.ts";

Deno.test("isLoopbackPeer() knows 127.0.0.0/8, ::1 and mapped 127.x", () => {
  for (
    const peer of [
      "127.0.0.1:4242",
      "127.255.255.254:1",
      "127.0.0.1",
      "[::1]:4242",
      "::1",
      "[0:0:0:0:0:0:0:1]:80",
      "[::ffff:127.0.0.1]:4242",
      "::ffff:127.9.8.7",
      "[::FFFF:7f00:1]:80",
      "[::1%lo]:80",
    ]
  ) {
    assert.ok(isLoopbackPeer(peer), peer);
  }
});

Deno.test("isLoopbackPeer() refuses every other address and anything unknown", () => {
  for (
    const peer of [
      "192.0.2.1:4242",
      "198.18.7.1:80",
      "10.127.0.1:80",
      "128.0.0.1:80",
      "0.0.0.0:80",
      "[::2]:80",
      "[::]:80",
      "[::ffff:192.0.2.1]:80",
      "[::127.0.0.1]:80", // IPv4-compatible, not mapped
      "[fe80::1]:80",
      "[1::1]:80",
      "127.0.0.1.evil:80",
      "127.0.0.256:80",
      "127.0.0:80",
      "localhost:80",
      "127.0.0.1x",
      "[::1",
      "::1::1",
      "stdin",
      "unknown:0",
      "/run/koan/http.sock",
      "",
    ]
  ) {
    assert.ok(!isLoopbackPeer(peer), peer);
  }
});

Deno.test("isLoopbackPeer() counts a unix-domain client as local, and nothing that only looks like one", () => {
  assert.equal(isLoopbackPeer("unix"), true);
  for (const peer of ["unix:", "unix:/run/koan.sock", "UNIX", " unix"]) {
    assert.equal(isLoopbackPeer(peer), false, peer);
  }
});
