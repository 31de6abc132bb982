/**
 * The PROXY protocol (v1 and v2) in front of koan: real HAProxy
 * (`send-proxy` in HTTP mode, `send-proxy-v2` in TCP mode for Zen) and
 * nginx's stream proxy (`proxy_protocol on`), with the client connecting
 * from 127.0.0.77 so that koan's access log can only show that address if
 * it took it from the header. Then raw sockets against every model: a
 * header from a trusted peer is believed, one from any other peer is
 * closed and logged, malformed headers are closed and logged and counted
 * in /metrics, and `max_per_source` counts the address a header names.
 */
import assert from "node:assert/strict";
import { V2_SIGNATURE } from "../../mod/net/proxy_header.ts";
import {
  connectFrom,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import {
  MODELS_UNDER_TEST,
  type ModelUnderTest,
  WORKERS,
} from "../conformance/models.ts";
import { nginxConf, spawnService, tempDir, tool } from "../service/_service.ts";
import { isConnectionError } from "../../mod/protocols/contract.ts";

const encoder = new TextEncoder();

/** The client's address, behind every proxy. */
const CLIENT = "127.0.0.77";
/** The peer the raw-socket tests trust as their proxy. */
const PROXY = "127.0.0.2";

interface Ports {
  zen: number;
  echo: number;
  http: number;
}

interface EdgeDaemon extends AsyncDisposable {
  daemon: TestDaemon;
  ports: Ports;
}

/**
 * Starts koan with Zen, echo and HTTP listeners on `model`, each with the
 * listener keys `edge` (TOML lines) and the extra `sections`.
 */
async function startEdgeDaemon(
  model: ModelUnderTest,
  edge: string[],
  sections = "",
): Promise<EdgeDaemon> {
  const ports: Ports = { zen: freePort(), echo: freePort(), http: freePort() };
  const listeners = (["zen", "echo", "http"] as const).map((protocol) =>
    [
      "[[listener]]",
      `protocol = "${protocol}"`,
      `address = "127.0.0.1:${ports[protocol]}"`,
      `model = "${model.name}"`,
      ...(model.pool ? [`workers = ${WORKERS}`] : []),
      ...edge,
    ].join("\n")
  );
  const daemon = await startDaemon([], {
    config: [...listeners, sections].join("\n\n"),
    ports: Object.values(ports),
    timeoutMs: 30_000,
  });
  return {
    daemon,
    ports,
    [Symbol.asyncDispose]: () => daemon[Symbol.asyncDispose](),
  };
}

/** A PROXY v1 line naming `client:port` as the client of `port`'s listener. */
function v1(client: string, clientPort: number, port: number): string {
  return `PROXY TCP4 ${client} 127.0.0.1 ${clientPort} ${port}\r\n`;
}

/** A PROXY v2 PROXY header for IPv4 `client:clientPort` -> 127.0.0.1:port. */
function v2(client: string, clientPort: number, port: number): Uint8Array {
  const header = new Uint8Array(16 + 12);
  header.set([
    ...V2_SIGNATURE,
    0x21,
    0x11,
    0x00,
    12,
  ]);
  header.set(client.split(".").map(Number), 16);
  header.set([127, 0, 0, 1], 20);
  header.set([clientPort >> 8, clientPort & 0xff, port >> 8, port & 0xff], 24);
  return header;
}

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Connects from `from` to `port`, sends `bytes`, and reads until the text
 * satisfies `done` or the connection ends; a connection koan has closed
 * already may refuse the send, which is then an answer like any other.
 */
async function exchange(
  from: string,
  port: number,
  bytes: Uint8Array,
  done: (text: string) => boolean = () => false,
): Promise<{ text: string; closed: boolean }> {
  using conn = await connectFrom(port, from);
  try {
    await send(conn, bytes);
  } catch (error) {
    // Closed by koan before the bytes went out: reset or broken pipe.
    if (!isConnectionError(error)) throw error;
  }
  const { text, closed, timedOut } = await readUntil(conn, done, 8000);
  assert.equal(timedOut, false, `no answer and no close: ${text}`);
  return { text, closed };
}

/** GET `target` through `port` from `from`, `prefix` (a PROXY header) first. */
async function httpGet(
  from: string,
  port: number,
  target: string,
  prefix: string | Uint8Array = "",
): Promise<string> {
  const request =
    `GET ${target} HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n`;
  return (await exchange(from, port, concat(prefix, request))).text;
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
  }, `a proxy listening on ${port}`);
}

const ASYNC = MODELS_UNDER_TEST.find((m) => m.name === "async")!;
const ZEN_QUESTION = "Beautiful is better than?";

/** Escapes `text` for a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("HAProxy send-proxy (HTTP mode) and send-proxy-v2 (TCP mode, Zen): koan logs the client, not the proxy", async () => {
  await using dir = await tempDir();
  await using koan = await startEdgeDaemon(ASYNC, [
    "proxy_protocol = true",
    'trusted_proxies = ["127.0.0.1"]',
  ]);
  const front = { http: freePort(), zen: freePort() };
  const conf = `${dir.path}/haproxy.cfg`;
  await Deno.writeTextFile(
    conf,
    [
      "global",
      "  maxconn 64",
      "defaults",
      "  timeout connect 5s",
      "  timeout client 10s",
      "  timeout server 10s",
      "frontend http_front",
      "  mode http",
      `  bind 127.0.0.1:${front.http}`,
      "  default_backend http_back",
      "backend http_back",
      "  mode http",
      `  server s1 127.0.0.1:${koan.ports.http} send-proxy`,
      "frontend zen_front",
      "  mode tcp",
      `  bind 127.0.0.1:${front.zen}`,
      "  default_backend zen_back",
      "backend zen_back",
      "  mode tcp",
      `  server s1 127.0.0.1:${koan.ports.zen} send-proxy-v2`,
      "",
    ].join("\n"),
  );
  await using haproxy = spawnService(tool("haproxy"), ["-db", "-f", conf]);
  await listening(front.http);
  await listening(front.zen);

  const reply = await httpGet(CLIENT, front.http, "/healthz");
  assert.match(reply, /^HTTP\/1\.1 200 /, haproxy.log);
  await koan.daemon.waitForLog(
    new RegExp(`${re(CLIENT)} - - \\[[^\\]]+\\] "GET /healthz HTTP/1\\.1" 200`),
  );

  const zen = await exchange(
    CLIENT,
    front.zen,
    encoder.encode(ZEN_QUESTION),
    (text) => text.endsWith("."),
  );
  assert.equal(zen.text, "ugly.");
  await koan.daemon.waitForLog(
    new RegExp(`koan\\.access: ${re(CLIENT)}:\\d+ zen in=`),
  );
  assert.doesNotMatch(koan.daemon.log, /127\.0\.0\.1 - - \[/);
  assert.doesNotMatch(koan.daemon.log, /refused/);
});

Deno.test("nginx stream proxy_protocol on: koan logs the client, not the proxy", async () => {
  await using dir = await tempDir();
  await using koan = await startEdgeDaemon(ASYNC, [
    "proxy_protocol = true",
    'trusted_proxies = ["127.0.0.0/30"]',
  ]);
  const front = freePort();
  const conf = `${dir.path}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    nginxConf(dir.path, {
      stream: [
        "server {",
        `  listen 127.0.0.1:${front};`,
        `  proxy_pass 127.0.0.1:${koan.ports.zen};`,
        "  proxy_protocol on;",
        "}",
      ],
    }),
  );
  await using _nginx = spawnService(tool("nginx"), [
    "-c",
    conf,
    "-p",
    dir.path,
  ]);
  await listening(front);
  const zen = await exchange(
    CLIENT,
    front,
    encoder.encode("Flat is better than?"),
    (text) => text.endsWith("."),
  );
  assert.equal(zen.text, "nested.");
  await koan.daemon.waitForLog(
    new RegExp(`koan\\.access: ${re(CLIENT)}:\\d+ zen in=`),
  );
  assert.doesNotMatch(koan.daemon.log, /refused/);
});

for (const model of MODELS_UNDER_TEST) {
  Deno.test(`${model.name}: PROXY headers are believed from trusted_proxies only; malformed ones are closed, logged and counted`, async () => {
    await using koan = await startEdgeDaemon(model, [
      "proxy_protocol = true",
      `trusted_proxies = ["${PROXY}"]`,
    ]);
    const { zen, echo, http } = koan.ports;

    // Trusted: v1 for Zen, v2 for echo, v1 for HTTP; the access log shows
    // the header's client (relayed to the per-connection models' children).
    const answer = await exchange(
      PROXY,
      zen,
      concat(v1(CLIENT, 40001, zen), ZEN_QUESTION),
      (text) => text.endsWith("."),
    );
    assert.equal(answer.text, "ugly.");
    const echoed = await exchange(
      PROXY,
      echo,
      concat(v2(CLIENT, 40002, echo), "ping\n"),
      (text) => text.endsWith("\n"),
    );
    assert.equal(echoed.text, "ping\n");
    const reply = await httpGet(
      PROXY,
      http,
      "/healthz",
      v1(CLIENT, 40003, http),
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    await koan.daemon.waitForLog(
      new RegExp(`koan\\.access: ${re(CLIENT)}:40001 zen in=`),
    );
    await koan.daemon.waitForLog(
      new RegExp(`koan\\.access: ${re(CLIENT)}:40002 echo in=`),
    );
    await koan.daemon.waitForLog(
      new RegExp(`${re(CLIENT)} - - \\[[^\\]]+\\] "GET /healthz HTTP/1\\.1"`),
    );

    // A valid header from a peer not in trusted_proxies: closed unanswered.
    const untrusted = await exchange(
      "127.0.0.1",
      zen,
      concat(v1(CLIENT, 40004, zen), ZEN_QUESTION),
    );
    assert.deepEqual(untrusted, { text: "", closed: true });
    await koan.daemon.waitForLog(
      /WARN.* refused 127\.0\.0\.1:\d+: untrusted: not in trusted_proxies/,
    );

    // Malformed, from the trusted peer: no header at all, a v1 port out
    // of range, a v2 header claiming 65535 bytes.
    const malformed = [
      [zen, encoder.encode(`${ZEN_QUESTION}\n`), "first byte 0x42"],
      [
        echo,
        encoder.encode(`PROXY TCP4 ${CLIENT} 127.0.0.1 99999 1\r\n`),
        '"99999" is not 0 to 65535',
      ],
      [
        http,
        concat(v2(CLIENT, 1, http).slice(0, 14), new Uint8Array([0xff, 0xff])),
        "65551 bytes, more than 4096",
      ],
    ] as const;
    for (const [port, bytes, why] of malformed) {
      const refused = await exchange(PROXY, port, bytes);
      assert.deepEqual(refused, { text: "", closed: true }, why);
      await koan.daemon.waitForLog(
        new RegExp(`refused ${re(PROXY)}:\\d+: malformed: .*${re(why)}`),
      );
    }
    assert.doesNotMatch(koan.daemon.log, new RegExp(`${re(PROXY)} - - \\[`));

    // /metrics counts them (pools add their workers' counts at heartbeats).
    // A per-connection model's /metrics is answered by the connection's
    // own child, whose registry holds none of the master's counts.
    if (model.name.endsWith("-per-connection")) return;
    const metrics = () =>
      httpGet(PROXY, http, "/metrics", v1(CLIENT, 40005, http));
    const series = (reason: string, port: number) =>
      `koan_proxy_refused_total{listener="127.0.0.1:${port}",reason="${reason}"} 1`;
    await eventually(
      async () => {
        const text = await metrics();
        return [
          series("untrusted", zen),
          series("malformed", zen),
          series("malformed", echo),
          series("malformed", http),
        ].every((line) => text.includes(line));
      },
      "/metrics counts the refusals",
      10_000,
    );
    assert.match(await metrics(), /# TYPE koan_proxy_refused_total counter/);
  });
}

Deno.test("async: a trusted peer that sends no complete PROXY header is closed after 5 s", async () => {
  await using koan = await startEdgeDaemon(ASYNC, [
    "proxy_protocol = true",
    `trusted_proxies = ["${PROXY}"]`,
  ]);
  const started = performance.now();
  const late = await exchange(
    PROXY,
    koan.ports.zen,
    encoder.encode("PROXY TCP4 127.0.0.77"),
  );
  const ms = performance.now() - started;
  assert.deepEqual(late, { text: "", closed: true });
  assert.ok(ms >= 4900 && ms < 7000, `closed after ${ms} ms`);
  await koan.daemon.waitForLog(
    /refused 127\.0\.0\.2:\d+: timeout: no complete PROXY protocol header within 5 s/,
  );
});

for (
  const model of MODELS_UNDER_TEST.filter((m) =>
    ["async", "threads", "processes"].includes(m.name)
  )
) {
  Deno.test(`${model.name}: max_per_source counts the address a PROXY header names, not the proxy's`, async () => {
    await using koan = await startEdgeDaemon(
      model,
      ["proxy_protocol = true", `trusted_proxies = ["${PROXY}"]`],
      "[limits]\nmax_per_source = 1",
    );
    const { zen } = koan.ports;
    /** A Zen client behind the proxy, holding its connection open. */
    const client = async (address: string, port: number) => {
      const conn = await connectFrom(zen, PROXY);
      await send(conn, v1(address, port, zen));
      await send(conn, ZEN_QUESTION);
      const { text } = await readUntil(conn, (t) => t.endsWith("."), 8000);
      return { conn, text };
    };
    const first = await client(CLIENT, 41001);
    assert.equal(first.text, "ugly.");
    // Another client behind the same proxy: admitted.
    const other = await client("127.0.0.78", 41002);
    assert.equal(other.text, "ugly.");
    // The first client again: refused.
    const again = await client(CLIENT, 41003);
    assert.equal(again.text, "Error: server busy.");
    again.conn.close();
    await koan.daemon.waitForLog(
      new RegExp(`refused ${re(CLIENT)}:41003: max_per_source`),
    );
    // Once its first connection ends, the client may connect again.
    first.conn.close();
    other.conn.close();
    let last = "";
    await eventually(async () => {
      const retry = await client(CLIENT, 41004);
      retry.conn.close();
      last = retry.text;
      return last === "ugly.";
    }, `the client admitted again (last answer: ${last})`);
  });
}
