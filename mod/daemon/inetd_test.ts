import assert from "node:assert/strict";
import { parseInetdArgs, sockaddrPeer, stderrIsClient } from "./inetd.ts";
import { UsageError } from "../util/usage.ts";

Deno.test("parseInetdArgs() reads --protocol, --config and --wait in both spellings", () => {
  assert.deepEqual(
    parseInetdArgs(["--protocol", "http", "--config=/etc/koan/koan.toml"]),
    { protocol: "http", config: "/etc/koan/koan.toml" },
  );
  assert.deepEqual(parseInetdArgs(["--wait", "--protocol=zen"]), {
    wait: true,
    protocol: "zen",
  });
  assert.deepEqual(parseInetdArgs([]), {});
});

Deno.test("parseInetdArgs() refuses what parseArgs refuses, with its words", () => {
  for (
    const [args, message] of [
      [["--bogus"], "Unknown option '--bogus'"],
      [["--protocol"], "Option '--protocol <value>' argument missing"],
      [["--config", "--wait"], "Option '--config <value>' argument missing"],
      [["--wait=yes"], "Option '--wait' does not take an argument"],
      [["zen"], "Unexpected argument 'zen'"],
      [["-p", "zen"], "Unexpected argument '-p'"],
    ] as const
  ) {
    assert.throws(() => parseInetdArgs(args), (error: Error) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("stderrIsClient() is false when stderr is not the socket on stdin", () => {
  // Under `deno test` neither fd is a socket; both cases with sockets
  // (the client's, and journald's own) run in tests/inetd_logs_test.ts.
  assert.equal(stderrIsClient(), false);
});

Deno.test("sockaddrPeer() writes IPv4, IPv6 (RFC 5952), mapped and unix peers as the acceptor does", () => {
  const v6 = (port: number, ...bytes: number[]) =>
    new Uint8Array([
      10,
      0,
      port >> 8,
      port & 255,
      0,
      0,
      0,
      0,
      ...bytes,
      0,
      0,
      0,
      0,
    ]);
  assert.equal(
    sockaddrPeer(new Uint8Array([2, 0, 0xd4, 0x31, 10, 1, 2, 3, 0, 0])),
    "10.1.2.3:54321",
  );
  assert.equal(sockaddrPeer(v6(80, ...Array(15).fill(0), 1)), "[::1]:80");
  assert.equal(
    sockaddrPeer(
      v6(443, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9),
    ),
    "[2001:db8::9]:443",
  );
  assert.equal(
    sockaddrPeer(v6(1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1)),
    "[1:0:1::1:0:1]:1",
  );
  assert.equal(
    sockaddrPeer(v6(7, ...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1)),
    "[::ffff:127.0.0.1]:7",
  );
  assert.equal(sockaddrPeer(new Uint8Array([1, 0, 47])), "unix");
  assert.equal(sockaddrPeer(new Uint8Array([17, 0, 0, 0])), undefined);
  assert.equal(sockaddrPeer(new Uint8Array([2])), undefined);
});
