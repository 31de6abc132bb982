/**
 * HTTP/1.1 end to end: the real daemon on free ports, spoken to by `fetch`,
 * `curl` and raw sockets (the request corpus, pipelining, timeouts, drain),
 * and `koan inetd --protocol http` over stdin/stdout.
 *
 * @module
 */
import assert from "node:assert/strict";
import { INVALID } from "./http_corpus/invalid.ts";
import { VALID } from "./http_corpus/valid.ts";
import { readResponses, sendCase } from "./http_corpus/socket.ts";
import { parseResponses, problemsWith } from "./http_corpus/wire.ts";
import { bytesOf } from "./http_corpus/cases.ts";
import {
  connect,
  freePort,
  runCli,
  send,
  startDaemon,
  type TestDaemon,
} from "./_helpers.ts";

const HAS_CURL = (() => {
  try {
    return Deno.statSync("/usr/bin/curl").isFile;
  } catch {
    return false;
  }
})();

async function curl(
  args: string[],
): Promise<{ stdout: string; stderr: string; code: number }> {
  const output = await new Deno.Command("curl", {
    args: ["--silent", "--show-error", "--max-time", "10", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    code: output.code,
  };
}

async function httpDaemon(
  extra: string[] = [],
  config?: string,
): Promise<{ daemon: TestDaemon; port: number; url: string }> {
  const port = freePort();
  const daemon = await startDaemon(
    ["--http", `127.0.0.1:${port}`, ...extra],
    config === undefined ? { ports: [port] } : { ports: [port], config },
  );
  return { daemon, port, url: `http://127.0.0.1:${port}` };
}

Deno.test("koan serve --http answers fetch with hello, Date, Server and nosniff", async () => {
  const { daemon, url } = await httpDaemon();
  await using _ = daemon;
  const response = await fetch(`${url}/`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "Hello, world!");
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
  assert.equal(response.headers.get("server"), "koan", "no version by default");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.ok(
    Math.abs(Date.parse(response.headers.get("date")!) - Date.now()) < 5000,
  );
  const head = await fetch(`${url}/`, { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), "13");
  assert.equal(await head.text(), "");
  const zen = await fetch(`${url}/zen`, {
    method: "POST",
    body: "Beautiful is better than?",
    headers: { accept: "application/json" },
  });
  assert.deepEqual(await zen.json(), {
    question: "Beautiful is better than?",
    answer: "ugly.",
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal(await health.text(), "ok");
  // The default access format writes HTTP as nginx's combined.
  await daemon.waitForLog(
    /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/healthz HTTP\/1\.1" 200 2 "-" "[^"]+"$/m,
  );
});

Deno.test("koan serve --http keeps a connection alive across requests", async () => {
  // The koan access line has the peer's port: one connection, one peer.
  const { daemon, port } = await httpDaemon(
    [],
    '[log]\naccess_format = "koan"\n',
  );
  await using _ = daemon;
  using conn = await connect(port);
  for (const path of ["/", "/healthz", "/zen?q=Readability%3F"]) {
    await send(conn, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { responses, closed } = await readResponses(conn, {
      count: 1,
      untilClose: false,
    });
    assert.equal(closed, false);
    assert.equal(responses[0]?.status, 200, path);
  }
  // All three came over one connection: one peer address in the log.
  await daemon.waitForLog(/http GET \/zen\S* 200/);
  const peers = new Set(
    [...daemon.log.matchAll(/(\S+) http GET \S+ 200/g)].map((m) => m[1]),
  );
  assert.equal(peers.size, 1);
});

Deno.test({
  name: "koan serve --http lets curl reuse its connection",
  ignore: !HAS_CURL,
  async fn() {
    const { daemon, url } = await httpDaemon();
    await using _ = daemon;
    const result = await curl(["--verbose", `${url}/`, `${url}/healthz`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "Hello, world!ok");
    assert.match(result.stderr, /Re-using existing connection/);
  },
});

Deno.test("koan serve --http answers a 3-request pipeline in order", async () => {
  const { daemon, port } = await httpDaemon();
  await using _ = daemon;
  using conn = await connect(port);
  await send(
    conn,
    "GET /zen?q=Flat+is+better+than%3F HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /zen?q=Sparse+is+better+than%3F HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  const { responses, closed } = await readResponses(conn, {
    count: 3,
    untilClose: true,
  });
  assert.deepEqual(responses.map((r) => r.body), [
    "nested.",
    "Hello, world!",
    "dense.",
  ]);
  assert.equal(closed, true);
});

Deno.test("koan serve --http answers the whole corpus over real sockets", async () => {
  const { daemon, port } = await httpDaemon();
  await using _ = daemon;
  const problems: string[] = [];
  for (const item of [...VALID, ...INVALID]) {
    const { responses, closed } = await sendCase(port, item);
    for (const problem of problemsWith(item, responses, closed)) {
      problems.push(`${item.name}: ${problem}`);
    }
  }
  assert.deepEqual(problems, []);
  // Every refusal was logged as one access line with its status.
  await daemon.waitForLog(/"FOO \/( HTTP\/1\.1)?" 501 /);
});

Deno.test("koan serve --http answers 408 when a head is too slow", async () => {
  const { daemon, port } = await httpDaemon([], "[http]\nheader_timeout = 1\n");
  await using _ = daemon;
  using conn = await connect(port);
  await send(conn, "GET / HTTP/1.1\r\nHost: x\r\n");
  const { responses, closed } = await readResponses(conn, {
    count: 1,
    untilClose: true,
    timeoutMs: 8000,
  });
  assert.equal(responses[0]?.status, 408);
  assert.equal(responses[0]?.headers.get("connection"), "close");
  assert.equal(closed, true);
  await daemon.waitForLog(/\] "-" 408 /);
});

/** A docroot with a file, an index, a big file and a symlink out of it. */
async function docroot() {
  const base = await Deno.makeTempDir({ prefix: "koan-docroot-" });
  const root = `${base}/www`;
  await Deno.mkdir(`${root}/docs`, { recursive: true });
  await Deno.writeTextFile(`${root}/index.html`, "<h1>koan</h1>\n");
  await Deno.writeTextFile(
    `${root}/docs/zen.txt`,
    "Simple is better than complex.\n",
  );
  await Deno.writeTextFile(`${base}/secret.txt`, "THE-SECRET");
  await Deno.symlink(`${base}/secret.txt`, `${root}/escape.txt`);
  const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) =>
    (i * 31) & 0xff
  );
  await Deno.writeFile(`${root}/big.bin`, big);
  return {
    root,
    big,
    async [Symbol.asyncDispose]() {
      await Deno.remove(base, { recursive: true });
    },
  };
}

Deno.test("koan serve --docroot serves files with validators and ranges", async () => {
  await using dir = await docroot();
  const { daemon, url } = await httpDaemon(["--docroot", dir.root]);
  await using _ = daemon;

  const index = await fetch(`${url}/`);
  assert.equal(await index.text(), "<h1>koan</h1>\n");
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");

  const file = await fetch(`${url}/docs/zen.txt`);
  assert.equal(await file.text(), "Simple is better than complex.\n");
  const etag = file.headers.get("etag")!;
  const modified = file.headers.get("last-modified")!;
  assert.ok(etag && modified);

  const byEtag = await fetch(`${url}/docs/zen.txt`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(byEtag.status, 304);
  assert.equal(await byEtag.text(), "");
  const byDate = await fetch(`${url}/docs/zen.txt`, {
    headers: { "if-modified-since": modified },
  });
  assert.equal(byDate.status, 304);
  await byDate.body?.cancel();

  const part = await fetch(`${url}/docs/zen.txt`, {
    headers: { range: "bytes=7-8" },
  });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), "bytes 7-8/31");
  assert.equal(await part.text(), "is");
  const past = await fetch(`${url}/docs/zen.txt`, {
    headers: { range: "bytes=100-" },
  });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), "bytes */31");
  await past.body?.cancel();
  const several = await fetch(`${url}/docs/zen.txt`, {
    headers: { range: "bytes=0-1,4-5" },
  });
  assert.equal(several.status, 200);
  assert.equal((await several.text()).length, 31);

  const redirect = await fetch(`${url}/docs`, { redirect: "manual" });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), "/docs/");
  await redirect.body?.cancel();

  const big = await fetch(`${url}/big.bin`);
  assert.deepEqual(new Uint8Array(await big.arrayBuffer()), dir.big);
});

Deno.test("koan serve --docroot cannot be escaped", async () => {
  await using dir = await docroot();
  const { daemon, port } = await httpDaemon(["--docroot", dir.root]);
  await using _ = daemon;
  for (
    const [path, status] of [
      ["/../secret.txt", 400],
      ["/docs/../../secret.txt", 400],
      ["/%2e%2e/secret.txt", 400],
      ["/docs/%2E%2E/%2e%2e/secret.txt", 400],
      ["/%252e%252e/secret.txt", 404],
      ["/..%2fsecret.txt", 400],
      ["/..%5Csecret.txt", 400],
      ["/..\\secret.txt", 400],
      ["/escape.txt", 404],
      ["/index.html%00", 400],
      ["/.hidden", 404],
    ] as const
  ) {
    using conn = await connect(port);
    await send(conn, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { responses, text } = await readResponses(conn, {
      count: 1,
      untilClose: true,
    });
    assert.equal(responses[0]?.status, status, path);
    assert.ok(!text.includes("THE-SECRET"), path);
  }
});

Deno.test({
  name: "koan serve --docroot works with curl: conditional GET and ranges",
  ignore: !HAS_CURL,
  async fn() {
    await using dir = await docroot();
    const { daemon, url } = await httpDaemon(["--docroot", dir.root]);
    await using _ = daemon;
    const head = await curl(["--head", `${url}/docs/zen.txt`]);
    const etag = /^etag: (.+?)\r?$/im.exec(head.stdout)?.[1];
    assert.ok(etag, head.stdout);
    const again = await curl([
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      "--header",
      `If-None-Match: ${etag}`,
      `${url}/docs/zen.txt`,
    ]);
    assert.equal(again.stdout, "304");
    const range = await curl(["--range", "0-5", `${url}/docs/zen.txt`]);
    assert.equal(range.stdout, "Simple");
  },
});

Deno.test("koan inetd --protocol http serves a request from stdin", async () => {
  const result = await runCli(["inetd", "--protocol", "http"], {
    stdin: bytesOf(
      "GET /zen?q=Simple+is+better+than%3F HTTP/1.1\r\nHost: x\r\n\r\n" +
        "HEAD / HTTP/1.0\r\n\r\n",
    ),
  });
  assert.equal(result.code, 0, result.stderr);
  const { responses, rest } = parseResponses(result.stdout, {
    bodiless: (index) => index === 1,
  });
  assert.equal(rest, "");
  assert.deepEqual(responses.map((r) => [r.status, r.body]), [
    [200, "complex."],
    [200, ""],
  ]);
  assert.equal(responses[1]!.headers.get("connection"), "close");
});

Deno.test("koan serve --http drains: in-flight answered with close, idle closed", async () => {
  const { daemon, port } = await httpDaemon(
    [],
    '[zen]\nwork = "sleep"\nwork_ms = 2000\n',
  );
  using idle = await connect(port);
  await send(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  await readResponses(idle, { count: 1, untilClose: false });
  using busy = await connect(port);
  await send(busy, "GET /zen?q=Readability%3F HTTP/1.1\r\nHost: x\r\n\r\n");
  // Let the request reach the handler (the answer takes 2 s of "work").
  await new Promise((resolve) => setTimeout(resolve, 500));
  daemon.kill("SIGTERM");
  const idleEnd = await readResponses(idle, {
    count: 0,
    untilClose: true,
    timeoutMs: 5000,
  });
  assert.equal(idleEnd.closed, true, "idle keep-alive closed at once");
  const answer = await readResponses(busy, {
    count: 1,
    untilClose: true,
    timeoutMs: 10_000,
  });
  assert.equal(answer.responses[0]?.body, "counts.");
  assert.equal(answer.responses[0]?.headers.get("connection"), "close");
  assert.equal((await daemon.exited).code, 0);
});

Deno.test("koan serve --http refuses past max_connections with a full 503", async () => {
  const { daemon, port } = await httpDaemon(
    [],
    "[limits]\nmax_connections = 1\n",
  );
  await using _ = daemon;
  using first = await connect(port);
  await send(first, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await readResponses(first, { count: 1, untilClose: false });
  using second = await connect(port);
  const { responses, closed } = await readResponses(second, {
    count: 1,
    untilClose: true,
  });
  assert.equal(responses[0]?.status, 503);
  assert.equal(responses[0]?.headers.get("connection"), "close");
  assert.ok(responses[0]?.headers.has("date"));
  assert.equal(closed, true);
});
