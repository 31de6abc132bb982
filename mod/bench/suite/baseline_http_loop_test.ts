import assert from "node:assert/strict";
import { freePort } from "../../net/free_port.ts";
import { spawnServer } from "../spawn_daemon.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("baseline_http_loop.ts answers every request once, a terminator split over reads or not", async () => {
  const port = freePort();
  const server = await spawnServer(
    "mod/bench/suite/baseline_http_loop.ts",
    [String(port)],
    port,
    ["--allow-net"],
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    conn.setNoDelay(true);
    const get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    // Split inside the terminator; a stray CR before it; two in one write.
    const writes = [
      get.slice(0, -1),
      "\n",
      "GET / HTTP/1.1\r\nHost: a\r",
      "\r\n\r\n",
      get + get,
    ];
    const buffer = new Uint8Array(4096);
    let text = "";
    for (const write of writes) {
      await conn.write(encoder.encode(write));
      // One at a time, so each write is one read on the server.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // A request left unanswered must fail the test, not hang it.
    const deadline = AbortSignal.timeout(5000);
    while ((text.match(/Hello, world!/g) ?? []).length < 4) {
      const n = await Promise.race([
        conn.read(buffer),
        new Promise<"late">((resolve) =>
          deadline.addEventListener("abort", () => resolve("late"))
        ),
      ]);
      assert.ok(n !== "late", `not 4 answers within 5 s: ${text}`);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
    const responses = text.split(/(?<=Hello, world!)/);
    assert.equal(responses.length, 4, text);
    for (const response of responses) {
      assert.match(
        response,
        /^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ncontent-length: 13\r\ndate: [^\r]+ GMT\r\n\r\nHello, world!$/,
      );
    }
    // Nothing more: no answer to a request not yet complete.
    await conn.write(encoder.encode("GET / HTTP/1.1\r\n\r"));
    const more = await Promise.race([
      conn.read(buffer),
      new Promise((resolve) => setTimeout(() => resolve("quiet"), 200)),
    ]);
    assert.equal(more, "quiet");
  } finally {
    conn.close();
    await server.stop();
  }
});
