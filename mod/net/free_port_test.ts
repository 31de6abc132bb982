import assert from "node:assert/strict";
import { freePort } from "./free_port.ts";

Deno.test("freePort returns a port in range that can then be bound", () => {
  const port = freePort();
  assert.ok(Number.isInteger(port), `${port} is an integer`);
  assert.ok(port >= 1 && port <= 65535, `${port} is a TCP port`);
  using listener = Deno.listen({ hostname: "127.0.0.1", port });
  assert.equal((listener.addr as Deno.NetAddr).port, port);
});
