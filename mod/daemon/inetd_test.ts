import assert from "node:assert/strict";
import { parseInetdArgs, stderrIsClient } from "./inetd.ts";
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
