/**
 * `[limits] serial_idle`: a worker that serves one connection at a time
 * (`iterative`; `threads` and `processes` with `concurrency = 1`) closes an
 * idle keep-alive connection after `serial_idle`, not after the protocol's
 * own idle limit, so idle clients cannot keep everyone else waiting in the
 * backlog. Models that serve many connections at once keep the protocol's
 * limit.
 */
import assert from "node:assert/strict";
import type { ModelName } from "../../mod/config/settings.ts";
import {
  connect,
  freePort,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import { WORKERS } from "./models.ts";

/** The protocols' own idle limits: long, so a worker held by one is plain. */
const OWN_IDLE_S = 15;
const HTTP_IDLE_CLIENTS = 20;
const ZEN_IDLE_CLIENTS = 5;
/** serial_idle (the default 1 s) plus a second of slack, and some more. */
const ANSWER_WITHIN_MS = 3000;

/** A listener that serves one connection at a time per worker. */
interface SerialCase {
  label: string;
  model: ModelName;
  /** TOML lines for the listener besides protocol, address and model. */
  extra: string[];
  /** Workers serving one at a time: idle clients are served this many at once. */
  workers: number;
}

const SERIAL_CASES: readonly SerialCase[] = [
  { label: "iterative", model: "iterative", extra: [], workers: 1 },
  {
    label: "threads, concurrency = 1",
    model: "threads",
    extra: [`workers = ${WORKERS}`, "concurrency = 1"],
    workers: WORKERS,
  },
  {
    label: "processes, concurrency = 1",
    model: "processes",
    extra: [`workers = ${WORKERS}`, "concurrency = 1"],
    workers: WORKERS,
  },
];

interface Served {
  daemon: TestDaemon;
  zen: number;
  http: number;
}

/** Starts Zen and HTTP listeners on `model`, with `sections` appended. */
async function serve(
  model: ModelName,
  extra: string[],
  sections = "",
): Promise<Served> {
  const ports = { zen: freePort(), http: freePort() };
  const listeners = (["zen", "http"] as const).map((protocol) =>
    [
      "[[listener]]",
      `protocol = "${protocol}"`,
      `address = "127.0.0.1:${ports[protocol]}"`,
      `model = "${model}"`,
      ...extra,
    ].join("\n")
  );
  const daemon = await startDaemon([], {
    config: [
      ...listeners,
      `[zen]\nidle_timeout = ${OWN_IDLE_S}`,
      `[http]\nkeepalive_timeout = ${OWN_IDLE_S}`,
      `[log]\naccess = false`,
      sections,
    ].join("\n\n"),
    ports: Object.values(ports),
    timeoutMs: 30_000,
  });
  return { daemon, ...ports };
}

const REQUEST = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/** Whether `text` holds one whole HTTP response (headers and Content-Length body). */
function wholeResponse(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  return text.length >= end + 4 + Number(length?.[1] ?? 0);
}

/** Sends one request on `conn` and reads its whole answer, or throws after `timeoutMs`. */
async function exchange(
  conn: Deno.Conn,
  request: string,
  done: (text: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  await send(conn, request);
  const { text, timedOut, closed } = await readUntil(conn, done, timeoutMs);
  if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
  if (closed && !done(text)) throw new Error(`closed before the answer`);
  return text;
}

/** Closes what the server may have closed already. */
function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch (error) {
      // Closed already (readUntil closes a connection it timed out on).
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

/**
 * Connects `count` keep-alive clients that each get one answer and then
 * say nothing more, with the connection left open. A worker holds each
 * until its idle limit, so this takes about `count` idle limits divided
 * among the workers; past `limitMs` it throws (without the cap, one
 * client holds a worker for the protocol's full limit).
 */
async function idleClients(
  count: number,
  port: number,
  request: string,
  done: (text: string) => boolean,
  limitMs: number,
): Promise<Deno.Conn[]> {
  const conns = await Promise.all(
    Array.from({ length: count }, () => connect(port)),
  );
  const deadline = Date.now() + limitMs;
  const answered = await Promise.allSettled(
    conns.map((conn) =>
      exchange(conn, request, done, Math.max(deadline - Date.now(), 1))
    ),
  );
  const late = answered.filter((result) => result.status === "rejected");
  if (late.length > 0) {
    closeAll(conns);
    throw new Error(
      `${late.length} of ${count} idle clients got no answer within ${limitMs} ms: each held a worker past serial_idle`,
    );
  }
  return conns;
}

/** Time to answer one new request once the idle clients are in place. */
async function timeAnswer(
  port: number,
  request: string,
  done: (text: string) => boolean,
): Promise<number> {
  using conn = await connect(port);
  const started = performance.now();
  await exchange(conn, request, done, OWN_IDLE_S * 1000 + 5000);
  return performance.now() - started;
}

for (const serial of SERIAL_CASES) {
  Deno.test(`serial_idle (${serial.label}): idle keep-alive clients hold a worker for 1 s, not keepalive_timeout`, async (t) => {
    const served = await serve(serial.model, serial.extra);
    await using _daemon = served.daemon;
    // Each idle client holds a worker about 1 s; give half as much again.
    const setupMs = (n: number) => (1.5 * n * 1000) / serial.workers + 3000;
    await t.step("HTTP", async () => {
      const idle = await idleClients(
        HTTP_IDLE_CLIENTS,
        served.http,
        REQUEST,
        wholeResponse,
        setupMs(HTTP_IDLE_CLIENTS),
      );
      try {
        const ms = await timeAnswer(served.http, REQUEST, wholeResponse);
        assert.ok(ms < ANSWER_WITHIN_MS, `answered after ${ms.toFixed(0)} ms`);
      } finally {
        closeAll(idle);
      }
    });
    await t.step("Zen", async () => {
      const answered = (text: string) => text.endsWith(".");
      const idle = await idleClients(
        ZEN_IDLE_CLIENTS,
        served.zen,
        "Readability?",
        answered,
        setupMs(ZEN_IDLE_CLIENTS),
      );
      try {
        const ms = await timeAnswer(served.zen, "Readability?", answered);
        assert.ok(ms < ANSWER_WITHIN_MS, `answered after ${ms.toFixed(0)} ms`);
      } finally {
        closeAll(idle);
      }
    });
    await t.step("the effective idle limit is logged once per listener", () => {
      const lines = served.daemon.log.split("\n").filter((line) =>
        line.includes("serves one connection at a time")
      );
      assert.equal(lines.length, 2, served.daemon.log);
      assert.match(
        lines.join("\n"),
        /closed after 1 s \(keepalive_timeout 15 s, serial_idle 1 s\)/,
      );
      assert.match(
        lines.join("\n"),
        /closed after 1 s \(idle_timeout 15 s, serial_idle 1 s\)/,
      );
    });
  });
}

Deno.test("serial_idle = 0 (iterative): a Zen connection is closed once idle after an answer", async () => {
  const served = await serve("iterative", [], "[limits]\nserial_idle = 0");
  await using _daemon = served.daemon;
  for (let i = 0; i < ZEN_IDLE_CLIENTS; i++) {
    using conn = await connect(served.zen);
    await send(conn, "Readability?");
    // Answered, then closed at once: the client waits for nothing.
    const { text, closed } = await readUntil(conn, () => false, 2000);
    assert.equal(text, "counts.");
    assert.ok(closed, "the server closed the idle connection");
  }
  {
    // A question in two pieces is not idleness: both halves are read.
    using conn = await connect(served.zen);
    await send(conn, "Readabi");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await send(conn, "lity?");
    const { text, closed } = await readUntil(conn, () => false, 2000);
    assert.equal(text, "counts.");
    assert.ok(closed);
  }
  assert.match(served.daemon.log, /closed once idle after an answer/);
});

Deno.test("serial_idle leaves async alone: an idle keep-alive client stays open past 1 s", async () => {
  const served = await serve("async", []);
  await using _daemon = served.daemon;
  using conn = await connect(served.http);
  await exchange(conn, REQUEST, wholeResponse, 5000);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const again = await exchange(conn, REQUEST, wholeResponse, 5000);
  assert.match(again, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(served.daemon.log, /serves one connection at a time/);
});
