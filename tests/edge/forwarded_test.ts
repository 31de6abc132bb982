/**
 * Trusted forwarding headers over HTTP: real nginx as a reverse proxy
 * (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`) in
 * front of koan, with the client bound to 127.0.0.88, so that koan's
 * access log can only show that address if it took it from the header
 * nginx appended to (and never the one the client wrote itself); the
 * request rate counts each client behind the proxy apart. Then raw
 * sockets under `async`, `threads` and `processes`: `X-Forwarded-For`
 * and `Forwarded` are believed from a peer in `trusted_proxies` only,
 * walked from the right over trusted hops, and ignored from any other.
 */
import assert from "node:assert/strict";
import {
  connectFrom,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import { nginxConf, spawnService, tempDir, tool } from "../service/_service.ts";

/** The client, behind nginx. */
const CLIENT = "127.0.0.88";
/** A second client behind nginx. */
const OTHER = "127.0.0.89";

/** Starts koan with one HTTP listener on `model` with the listener keys `edge` and `sections`. */
async function startHttp(
  model: string,
  edge: string[],
  sections = "",
): Promise<{ daemon: TestDaemon; port: number } & AsyncDisposable> {
  const port = freePort();
  const daemon = await startDaemon([], {
    config: [
      "[[listener]]",
      'protocol = "http"',
      `address = "127.0.0.1:${port}"`,
      `model = "${model}"`,
      ...(model === "async" ? [] : ["workers = 2"]),
      ...edge,
      "",
      sections,
    ].join("\n"),
    ports: [port],
    timeoutMs: 30_000,
  });
  return {
    daemon,
    port,
    [Symbol.asyncDispose]: () => daemon[Symbol.asyncDispose](),
  };
}

/** GET `/` through `port` from `from` with extra header lines; the status. */
async function get(
  from: string,
  port: number,
  headers: string[] = [],
  target = "/",
): Promise<number> {
  using conn = await connectFrom(port, from);
  await send(
    conn,
    [
      `GET ${target} HTTP/1.1`,
      "Host: koan.test",
      "Connection: close",
      ...headers,
      "",
      "",
    ].join("\r\n"),
  );
  const { text } = await readUntil(conn, () => false, 8000);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

/** Escapes `text` for a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** An access-log line (combined format) for `target` from `address`. */
function accessLine(address: string, target: string): RegExp {
  return new RegExp(
    `(?:^|\\s)${re(address)} - - \\[[^\\]]+\\] "GET ${
      re(target)
    } HTTP/1\\.[01]" \\d{3}`,
    "m",
  );
}

/** Waits until something answers on `port`. */
async function listening(port: number): Promise<void> {
  await eventually(async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      return false;
    }
  }, `nginx listening on ${port}`);
}

Deno.test("nginx with $proxy_add_x_forwarded_for: koan logs and limits the client, not the proxy or what the client claims", async () => {
  await using dir = await tempDir();
  await using koan = await startHttp(
    "async",
    ['trusted_proxies = ["127.0.0.1"]'],
    "[http]\nrequest_rate = 1\nrequest_burst = 0",
  );
  const front = freePort();
  const conf = `${dir.path}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    nginxConf(dir.path, {
      http: [
        "server {",
        `  listen 127.0.0.1:${front};`,
        "  location / {",
        `    proxy_pass http://127.0.0.1:${koan.port};`,
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "  }",
        "}",
      ],
    }),
  );
  await using nginx = spawnService(tool("nginx"), [
    "-c",
    conf,
    "-p",
    dir.path,
  ]);
  await listening(front);

  assert.equal(await get(CLIENT, front, [], "/healthz"), 200, nginx.log);
  await koan.daemon.waitForLog(accessLine(CLIENT, "/healthz"));
  // What the client writes stays left of what nginx appends.
  assert.equal(
    await get(OTHER, front, ["X-Forwarded-For: 127.0.0.99"], "/spoofed"),
    404,
  );
  await koan.daemon.waitForLog(accessLine(OTHER, "/spoofed"));
  assert.doesNotMatch(koan.daemon.log, /127\.0\.0\.99 - - \[/);
  assert.doesNotMatch(koan.daemon.log, /127\.0\.0\.1 - - \[/, "never nginx");
  // One request a second per client: each client behind nginx has its
  // own bucket (a limit on nginx's address would refuse the second).
  const third = "127.0.0.90";
  const fourth = "127.0.0.91";
  assert.equal(await get(third, front), 200);
  assert.equal(await get(fourth, front), 200);
  assert.equal(await get(third, front), 429);
});

/** The raw-socket cases, under each of these models. */
const MODELS = ["async", "threads", "processes"] as const;

for (const model of MODELS) {
  Deno.test(`${model}: X-Forwarded-For and Forwarded are believed from trusted_proxies only`, async () => {
    // 127.0.0.2 and 127.0.0.3 are trusted proxies; 127.0.0.88 is not.
    await using koan = await startHttp(model, [
      'trusted_proxies = ["127.0.0.2", "127.0.0.3/32"]',
    ]);
    const proxy = "127.0.0.2";
    // Sent by the client directly: ignored.
    assert.equal(
      await get(CLIENT, koan.port, ["X-Forwarded-For: 203.0.113.7"], "/a"),
      404,
    );
    await koan.daemon.waitForLog(accessLine(CLIENT, "/a"));
    // From a trusted proxy: the rightmost address not trusted, its port kept.
    assert.equal(
      await get(proxy, koan.port, [
        "X-Forwarded-For: 198.51.100.1, 203.0.113.8:4711",
        "X-Forwarded-For: 127.0.0.3",
      ], "/b"),
      404,
    );
    await koan.daemon.waitForLog(accessLine("203.0.113.8", "/b"));
    assert.equal(
      await get(proxy, koan.port, [
        'Forwarded: for="[2001:db8::7]:4711";proto=http',
      ], "/c"),
      404,
    );
    await koan.daemon.waitForLog(accessLine("2001:db8::7", "/c"));
    // Unusable as the rightmost entry: the proxy itself.
    assert.equal(
      await get(proxy, koan.port, ["Forwarded: for=_hidden"], "/d"),
      404,
    );
    await koan.daemon.waitForLog(accessLine(proxy, "/d"));
    assert.doesNotMatch(koan.daemon.log, /203\.0\.113\.7/);
    assert.doesNotMatch(koan.daemon.log, /198\.51\.100\.1 /);
  });
}
