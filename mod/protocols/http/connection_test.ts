import assert from "node:assert/strict";
import { bytesOf, type Case } from "../../../tests/http_corpus/cases.ts";
import { INVALID } from "../../../tests/http_corpus/invalid.ts";
import { VALID } from "../../../tests/http_corpus/valid.ts";
import {
  isHead,
  parseResponses,
  problemsWith,
} from "../../../tests/http_corpus/wire.ts";
import { configOf } from "../../config/_testing.ts";
import type { AccessRecord, ConnectionInfo } from "../contract.ts";
import { metrics } from "../../metrics/registry.ts";
import type { HttpEnv } from "./settings.ts";
import { BUILT_IN_TABLE } from "../zen/aphorisms.ts";
import { MemoryTransport } from "./_memory_transport.ts";
import type { FileEntry, FileReader, FileSource } from "./file_source.ts";
import { connectionSettings, createHttpHandler, http } from "./http.ts";
import { HttpConnection } from "./connection.ts";

const H = "Host: koan.test\r\n";

function envWith(
  raw: Record<string, unknown> = {},
  extra: Partial<HttpEnv> = {},
): HttpEnv {
  return {
    settings: http.settings(configOf(raw).config),
    aphorisms: BUILT_IN_TABLE,
    state: { draining: false },
    ...extra,
  };
}

interface Run {
  transport: MemoryTransport;
  records: AccessRecord[];
  drain: AbortController;
  /** Resolves when the handler has returned. */
  done: Promise<void>;
  finished: () => boolean;
}

/** Starts a handler over a scripted peer that stays connected after its script. */
function start(
  chunks: Uint8Array[],
  env: HttpEnv = envWith(),
  info: ConnectionInfo = { peer: "192.0.2.1:4242", local: "127.0.0.1:8080" },
): Run {
  const transport = new MemoryTransport(chunks, { holdOpen: true });
  const records: AccessRecord[] = [];
  const drain = new AbortController();
  let finished = false;
  const done = createHttpHandler(env)(transport, {
    info,
    draining: drain.signal,
    access: (record) => records.push(record),
  }).then(() => {
    finished = true;
  });
  return { transport, records, drain, done, finished: () => finished };
}

/** Lets the handler run until it waits for input or returns (bounded). */
async function settle(run: Run): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (run.finished() || run.transport.reading) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  throw new Error("handler neither finished nor waited for input");
}

/** Runs a corpus vector; returns the responses and whether the handler closed. */
async function exchange(item: Case, step: number) {
  const bytes = bytesOf(item.request);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += step) {
    chunks.push(bytes.subarray(at, at + step));
  }
  const run = start(chunks);
  await settle(run);
  const closed = run.finished();
  run.transport.close();
  await run.done;
  const { responses } = parseResponses(run.transport.text, {
    bodiless: (index) => index === 0 && isHead(item),
  });
  return { responses, closed, run };
}

for (const item of [...VALID, ...INVALID]) {
  Deno.test(`HTTP handler answers ${item.status}: ${item.name}`, async () => {
    for (const step of [item.request.length, 1]) {
      const { responses, closed, run } = await exchange(item, step);
      assert.deepEqual(
        problemsWith(item, responses, closed),
        [],
        `step ${step}:\n${run.transport.text.slice(0, 2000)}`,
      );
      assert.equal(
        run.records.length,
        responses.length,
        `step ${step}: one access record per response`,
      );
    }
  });
}

Deno.test("HTTP handler writes a pipelined batch in one write", async () => {
  const batch = `GET / HTTP/1.1\r\n${H}\r\n`.repeat(3);
  const run = start([bytesOf(batch)]);
  await settle(run);
  assert.equal(run.transport.writes.length, 1);
  assert.equal(parseResponses(run.transport.text).responses.length, 3);
  run.transport.close();
  await run.done;
});

Deno.test("HTTP handler keeps the connection for requests in separate reads", async () => {
  const run = start([bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`)]);
  await settle(run);
  assert.equal(run.transport.writes.length, 1);
  assert.equal(run.finished(), false);
  run.transport.push(bytesOf(`GET /healthz HTTP/1.1\r\n${H}\r\n`));
  await settle(run);
  assert.equal(run.transport.writes.length, 2);
  const { responses } = parseResponses(run.transport.text);
  assert.deepEqual(responses.map((r) => r.body), ["Hello, world!", "ok"]);
  run.transport.close();
  await run.done;
});

Deno.test("HTTP handler logs one record per request with its numbers", async () => {
  const request = `GET /zen?q=Readability%3F HTTP/1.1\r\n${H}\r\n`;
  const run = start([bytesOf(request + request)]);
  await settle(run);
  run.transport.close();
  await run.done;
  const { responses } = parseResponses(run.transport.text);
  assert.equal(run.records.length, 2);
  for (const [i, record] of run.records.entries()) {
    assert.equal(record.protocol, "http");
    assert.equal(record.fields?.method, "GET");
    assert.equal(record.fields?.target, "/zen?q=Readability%3F");
    assert.equal(record.status, 200);
    assert.equal(record.peer, "192.0.2.1:4242");
    assert.equal(record.bytesIn, request.length);
    assert.equal(record.bytesOut, responses[i]!.raw.length);
    assert.equal(record.outcome, "keep-alive");
    assert.ok(record.durationMs >= 0 && record.durationMs < 60_000);
    assert.equal(record.version, "HTTP/1.1");
    assert.equal(record.bodyBytes, responses[i]!.body.length);
  }
});

Deno.test("HTTP handler passes the headers the access format prints, and no others", async () => {
  const request = (path: string, version = "1.1", extra = "") =>
    `GET ${path} HTTP/${version}\r\n${H}User-Agent: t/1\r\nX-Id: 7\r\n${extra}\r\n`;
  const combined = start([
    bytesOf(request("/") + request("/healthz", "1.0", "Referer: /r\r\n")),
  ]);
  await combined.done;
  const [first, second] = combined.records;
  assert.equal(first?.headers?.get("user-agent"), "t/1");
  assert.equal(first?.headers?.get("referer"), undefined);
  assert.equal(
    first?.headers?.get("x-id"),
    undefined,
    "combined does not print it",
  );
  assert.equal(second?.headers?.get("referer"), "/r");
  assert.equal(second?.version, "HTTP/1.0");

  const custom = start(
    [bytesOf(request("/", "1.1", "Connection: close\r\n"))],
    envWith({ log: { access_format: "$status $http_x_id" } }),
  );
  await custom.done;
  assert.equal(custom.records[0]?.headers?.get("x-id"), "7");
  assert.equal(custom.records[0]?.headers?.get("user-agent"), undefined);

  for (const log of [{ access_format: "koan" }, { access: false }]) {
    const none = start(
      [bytesOf(request("/", "1.1", "Connection: close\r\n"))],
      envWith({ log }),
    );
    await none.done;
    assert.equal(none.records[0]?.headers, undefined, JSON.stringify(log));
  }
});

Deno.test("HTTP handler counts no body for HEAD and the error's body for a refusal", async () => {
  const run = start([
    bytesOf(`HEAD / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\n`),
    bytesOf(`FOO /x HTTP/1.1\r\n${H}\r\n`),
  ]);
  await run.done;
  const { responses } = parseResponses(run.transport.text, {
    bodiless: (index) => index === 0,
  });
  assert.deepEqual(run.records.map((r) => r.status), [200, 200, 501]);
  assert.deepEqual(
    run.records.map((r) => r.bodyBytes),
    [0, 13, responses[2]!.body.length],
  );
  assert.ok(responses[2]!.body.length > 0);
  assert.equal(run.records[2]?.version, undefined, "not made out");
});

Deno.test("HTTP handler sends 100 Continue when the client waits for it", async () => {
  const run = start([
    bytesOf(
      `POST /zen HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 12\r\n\r\n`,
    ),
  ]);
  await settle(run);
  assert.equal(run.transport.text, "HTTP/1.1 100 Continue\r\n\r\n");
  run.transport.push(bytesOf("Readability?"));
  await settle(run);
  const { responses } = parseResponses(run.transport.text);
  assert.equal(responses[0]?.body, "counts.");
  assert.equal(run.finished(), false, "still keep-alive");
  run.transport.close();
  await run.done;
});

Deno.test("HTTP handler closes instead of waiting for a body it never asked for", async () => {
  const run = start([
    bytesOf(
      `POST /nothing HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`,
    ),
  ]);
  await settle(run);
  assert.equal(run.finished(), true);
  const { responses } = parseResponses(run.transport.text);
  assert.equal(responses[0]?.status, 404);
  assert.ok(!run.transport.text.includes("100 Continue"));
});

Deno.test("HTTP handler closes an idle keep-alive connection when draining", async () => {
  const run = start([bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`)]);
  await settle(run);
  run.drain.abort();
  await run.done;
  assert.equal(run.transport.writes.length, 1);
  assert.equal(run.records.length, 1);
});

Deno.test("HTTP handler finishes the request in flight when draining, then closes", async () => {
  const run = start([
    bytesOf(`POST /zen HTTP/1.1\r\n${H}Content-Length: 12\r\n\r\nReada`),
  ]);
  await settle(run);
  run.drain.abort();
  await settle(run);
  assert.equal(run.finished(), false, "the body is still coming");
  run.transport.push(bytesOf("bility?"));
  await run.done;
  const { responses } = parseResponses(run.transport.text);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]!.body, "counts.");
  assert.equal(responses[0]!.headers.get("connection"), "close");
  assert.equal(run.records[0]?.outcome, "draining");
});

Deno.test("HTTP handler answers 408 when the head does not arrive in time", async () => {
  const run = start(
    [bytesOf("GET / HTTP/1.1\r\nHo")],
    envWith({ http: { header_timeout: 0.2 } }),
  );
  await run.done;
  const { responses } = parseResponses(run.transport.text);
  assert.equal(responses[0]?.status, 408);
  assert.equal(responses[0]?.headers.get("connection"), "close");
  assert.equal(run.records[0]?.status, 408);
  assert.equal(run.records[0]?.outcome, "header timeout");
  assert.equal(run.records[0]?.bodyBytes, responses[0]?.body.length);
  assert.ok((run.records[0]?.bodyBytes ?? 0) > 0);
});

Deno.test("HTTP handler closes a silent keep-alive connection without a word", async () => {
  const run = start(
    [bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`)],
    envWith({ http: { keepalive_timeout: 0.2 } }),
  );
  await run.done;
  assert.equal(parseResponses(run.transport.text).responses.length, 1);
  assert.equal(run.records.length, 1);
});

Deno.test("HTTP handler logs a request cut short as 400 without answering", async () => {
  const transport = new MemoryTransport([bytesOf("GET / HTTP/1.1\r\nHost")]);
  const records: AccessRecord[] = [];
  await createHttpHandler(envWith())(transport, {
    info: { peer: "p", local: "l" },
    draining: new AbortController().signal,
    access: (record) => records.push(record),
  });
  assert.equal(transport.writes.length, 0);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.status, 400);
  assert.equal(records[0]!.outcome, "sent a partial request then closed");
});

/** A FileSource holding one file in memory, optionally lying about its size. */
function memoryFiles(content: Uint8Array, claimedSize = content.length) {
  let reads = 0;
  const entry: FileEntry = {
    kind: "file",
    size: claimedSize,
    mtimeMs: Date.UTC(2024, 0, 2, 3, 4, 5),
    open(): Promise<FileReader> {
      return Promise.resolve({
        read(into: Uint8Array, position: number) {
          reads++;
          const n = Math.min(into.length, content.length - position);
          if (n <= 0) return Promise.resolve(null);
          into.set(content.subarray(position, position + n));
          return Promise.resolve(n);
        },
        close() {},
      });
    },
  };
  const files: FileSource = {
    lookup: (segments) =>
      Promise.resolve(segments.join("/") === "big.bin" ? entry : null),
  };
  return { files, reads: () => reads };
}

Deno.test("HTTP handler streams a large file in chunks", async () => {
  const content = new Uint8Array(300 * 1024).map((_, i) => i * 7);
  const { files, reads } = memoryFiles(content);
  const run = start(
    [bytesOf(`GET /big.bin HTTP/1.1\r\n${H}\r\n`)],
    envWith({}, { files }),
  );
  await settle(run);
  assert.ok(run.transport.writes.length >= 4, "several writes");
  assert.ok(reads() >= 4, "several reads");
  const all = new Uint8Array(
    run.transport.writes.reduce((n, w) => n + w.length, 0),
  );
  let at = 0;
  for (const write of run.transport.writes) {
    all.set(write, at);
    at += write.length;
  }
  const headEnd = run.transport.text.indexOf("\r\n\r\n") + 4;
  assert.deepEqual(all.subarray(headEnd), content);
  assert.match(run.transport.text, /Content-Length: 307200\r\n/);
  assert.equal(run.records[0]?.bytesOut, all.length);
  run.transport.close();
  await run.done;
});

Deno.test("HTTP handler closes when a file shrinks while it is sent", async () => {
  const content = new Uint8Array(100 * 1024);
  const { files } = memoryFiles(content, 200 * 1024);
  const run = start(
    [bytesOf(`GET /big.bin HTTP/1.1\r\n${H}\r\n`)],
    envWith({}, { files }),
  );
  await run.done;
  assert.ok(run.transport.closed);
  assert.equal(run.records.at(-1)?.outcome, "file shrank while being sent");
});

Deno.test("HTTP handler answers 500 when a route throws", async () => {
  const env = envWith();
  const settings = connectionSettings(env);
  settings.routes = new Map([["/", {
    methods: ["GET"],
    handle: () => {
      throw new TypeError("boom");
    },
  }]]);
  const transport = new MemoryTransport([
    bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`),
  ]);
  const records: AccessRecord[] = [];
  await new HttpConnection({
    transport,
    env,
    settings,
    context: {
      info: { peer: "p", local: "l" },
      draining: new AbortController().signal,
      access: (record) => records.push(record),
    },
  }).serve();
  const { responses } = parseResponses(transport.text);
  assert.equal(responses[0]?.status, 500);
  assert.equal(records[0]?.outcome, "error: boom");
});

/** A peer whose every write rejects with `error`. */
class FailingWrites extends MemoryTransport {
  #error: unknown;
  constructor(chunks: Uint8Array[], error: unknown) {
    super(chunks);
    this.#error = error;
  }
  override write(_bytes: Uint8Array): Promise<void> {
    return Promise.reject(this.#error);
  }
}

function serveOver(transport: MemoryTransport): {
  records: AccessRecord[];
  done: Promise<void>;
} {
  const records: AccessRecord[] = [];
  const done = createHttpHandler(envWith())(transport, {
    info: { peer: "p", local: "l" },
    draining: new AbortController().signal,
    access: (record) => records.push(record),
  });
  return { records, done };
}

Deno.test("HTTP handler takes a reset on write for a client that left", async () => {
  const reset = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
  const transport = new FailingWrites(
    [bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`)],
    reset,
  );
  const { records, done } = serveOver(transport);
  await done;
  assert.ok(transport.closed);
  assert.equal(records.length, 1);
  assert.equal(records[0]?.outcome, "closed before the answer was sent");
});

Deno.test("HTTP handler does not take a transport bug for a client that left", async () => {
  const bug = new TypeError("Cannot read properties of undefined");
  const transport = new FailingWrites(
    [bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`)],
    bug,
  );
  const { done } = serveOver(transport);
  await assert.rejects(done, (error) => error === bug);
  assert.ok(transport.closed);
});

Deno.test("http.busyReply is a complete 503 that closes", () => {
  const text = new TextDecoder().decode(http.busyReply);
  const { responses, rest } = parseResponses(text);
  assert.equal(rest, "");
  assert.equal(responses[0]?.status, 503);
  assert.equal(responses[0]?.headers.get("connection"), "close");
  assert.ok(responses[0]?.headers.has("date"));
  assert.equal(responses[0]!.body, "503 Service Unavailable\n");
  assert.equal(responses[0]?.headers.get("server"), "koan");
});

Deno.test("HTTP handler logs a refused request with what it could read of it", async () => {
  const run = start([bytesOf(`FOO /x HTTP/1.1\r\n${H}\r\n`)]);
  await run.done;
  assert.equal(run.records.length, 1);
  assert.equal(run.records[0]!.fields?.method, "FOO");
  assert.equal(run.records[0]!.fields?.target, "/x");
  assert.equal(run.records[0]!.status, 501);
  assert.equal(run.records[0]!.outcome, 'Method "FOO" is not implemented');
});

Deno.test("HTTP handler serves a just-accepted connection once when draining", async () => {
  const run = start([]);
  await settle(run);
  run.drain.abort();
  await settle(run);
  assert.equal(run.finished(), false, "waits for the request on its way");
  run.transport.push(bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`));
  await run.done;
  const { responses } = parseResponses(run.transport.text);
  assert.equal(responses[0]?.status, 200);
  assert.equal(responses[0]?.headers.get("connection"), "close");
});

Deno.test("HTTP handler closes a silent just-accepted connection soon after a drain", async () => {
  const run = start([]);
  await settle(run);
  run.drain.abort();
  await run.done;
  assert.equal(
    run.transport.writes.length,
    0,
    "no 408 for a request never sent",
  );
  assert.equal(run.records.length, 0);
});

/** Runs `requests` pipelined in one read from `info`'s peer; the responses, records, and whether it closed. */
async function pipelined(
  requests: string[],
  env: HttpEnv,
  info: ConnectionInfo,
) {
  const run = start([bytesOf(requests.join(""))], env, info);
  await settle(run);
  const closed = run.finished();
  run.transport.close();
  await run.done;
  return {
    ...parseResponses(run.transport.text),
    records: run.records,
    closed,
  };
}

const GET = `GET / HTTP/1.1\r\n${H}\r\n`;
const LIMITED = 'koan_requests_limited_total{protocol="http"}';

Deno.test("HTTP handler answers 429 with Retry-After past request_rate and keeps the connection", async () => {
  const before = metrics.snapshot().counters[LIMITED] ?? 0;
  const env = envWith({ http: { request_rate: 0.5, request_burst: 1 } });
  const info = { peer: "192.0.2.61:4242", local: "127.0.0.1:8080" };
  const { responses, records, closed } = await pipelined(
    [
      GET,
      GET,
      GET,
      `POST /zen HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nab?`,
      GET,
    ],
    env,
    info,
  );
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 429, 429, 429]);
  const limited = responses[2]!;
  assert.equal(limited.headers.get("retry-after"), "2", "1/0.5 s, rounded up");
  assert.equal(limited.headers.get("connection"), undefined, "kept open");
  assert.equal(limited.body, "429 Too Many Requests\n");
  assert.equal(closed, false, "the connection stays open after a 429");
  assert.deepEqual(records.map((r) => r.status), [200, 200, 429, 429, 429]);
  assert.equal(metrics.snapshot().counters[LIMITED], before + 3);
  // Another client has its own bucket.
  const other = await pipelined([GET], env, {
    peer: "192.0.2.62:4242",
    local: "127.0.0.1:8080",
  });
  assert.equal(other.responses[0]?.status, 200);
});

Deno.test("HTTP handler counts nothing without request_rate", async () => {
  const { responses } = await pipelined(
    [GET, GET, GET, GET],
    envWith(),
    { peer: "192.0.2.63:4242", local: "127.0.0.1:8080" },
  );
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200]);
});

Deno.test("HTTP handler logs the client a trusted proxy forwards, walking over trusted hops", async () => {
  const forward = (xff: string) =>
    `GET / HTTP/1.1\r\n${H}X-Forwarded-For: ${xff}\r\n\r\n`;
  const { records } = await pipelined(
    [
      forward("127.0.0.1, 198.51.100.7"),
      forward("198.51.100.8:4711, 10.0.0.3"),
      GET,
      forward("garbage"),
    ],
    envWith(),
    {
      peer: "10.0.0.2:5000",
      local: "127.0.0.1:8080",
      trustedProxy: true,
      trusted: { has: (address) => address.startsWith("10.0.0.") },
    },
  );
  assert.deepEqual(records.map((r) => r.peer), [
    "198.51.100.7",
    "198.51.100.8:4711",
    "10.0.0.2:5000",
    "10.0.0.2:5000",
  ]);
});

Deno.test("HTTP handler ignores forwarding headers from a peer that is not a trusted proxy", async () => {
  const { records } = await pipelined(
    [
      `GET / HTTP/1.1\r\n${H}X-Forwarded-For: 198.51.100.7\r\n\r\n`,
      `GET / HTTP/1.1\r\n${H}Forwarded: for=198.51.100.7\r\n\r\n`,
    ],
    envWith(),
    { peer: "192.0.2.64:4242", local: "127.0.0.1:8080" },
  );
  assert.deepEqual(records.map((r) => r.peer), [
    "192.0.2.64:4242",
    "192.0.2.64:4242",
  ]);
});

Deno.test("HTTP handler limits the forwarded client, not the proxy", async () => {
  const env = envWith({ http: { request_rate: 0.5, request_burst: 0 } });
  const forward = (xff: string) =>
    `GET / HTTP/1.1\r\n${H}X-Forwarded-For: ${xff}\r\n\r\n`;
  const { responses } = await pipelined(
    [
      forward("198.51.100.21"),
      forward("198.51.100.22"),
      forward("198.51.100.21"),
      forward("198.51.100.23"),
    ],
    env,
    { peer: "10.0.0.9:5000", local: "127.0.0.1:8080", trustedProxy: true },
  );
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 429, 200]);
});

Deno.test("HTTP handler keeps the admin routes on the socket's peer, whatever a trusted proxy forwards", async () => {
  const { responses, records } = await pipelined(
    [`GET /metrics HTTP/1.1\r\n${H}X-Forwarded-For: 127.0.0.1\r\n\r\n`],
    envWith(),
    {
      peer: "192.0.2.10:5000",
      local: "192.0.2.1:8080",
      trustedProxy: true,
      trusted: { has: (address) => address === "192.0.2.10" },
    },
  );
  assert.equal(
    responses[0]?.status,
    404,
    "a forwarded 127.0.0.1 is no loopback peer",
  );
  assert.equal(records[0]?.peer, "127.0.0.1", "though the log shows it");
});
