import assert from "node:assert/strict";
import { quantile, runLoad } from "./load.ts";

Deno.test("quantile() picks from sorted values", () => {
  const values = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(quantile(values, 0.5), 6);
  assert.equal(quantile(values, 0.99), 10);
  assert.equal(quantile(new Float64Array(0), 0.5), 0);
});

Deno.test("runLoad() with a request budget issues exactly that many over HTTP", async () => {
  let served = 0;
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => {
      served++;
      return new Response("ok");
    },
  );
  const result = await runLoad({
    port: server.addr.port,
    protocol: "http",
    connections: 3,
    requests: 50,
  });
  await server.shutdown();
  assert.equal(result.requests, 50);
  assert.equal(served, 50);
  assert.equal(result.errors, 0);
});
