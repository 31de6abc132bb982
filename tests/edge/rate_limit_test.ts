/**
 * Per-client rate limits against the real daemon, under `async`,
 * `threads` and `processes` (4 workers, so that a pool that multiplied
 * the allowance would show it): the new-connection rate
 * (`[limits] rate_per_source`, `rate_burst`) refuses a burst past
 * `rate + burst` like `max_per_source` and recovers a second later; the
 * request rate (`[http] request_rate`, `request_burst`) answers HTTP 429
 * with `Retry-After` and Zen `Error: slow down.` on a connection it keeps;
 * one client flooding four workers gets what one bucket allows; every
 * refusal is in /metrics. Then 5,000 distinct loopback sources
 * (127.1.x.y) leave exactly as many entries in `koan_rate_limit_sources`,
 * which a table of fixed size bounds (100,000 sources: the unit tests of
 * `util/token_buckets.ts` and `net/limiter.ts`).
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  connectFrom,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";

/** The models under test; pools get four workers. */
const MODELS = ["async", "threads", "processes"] as const;
type Model = (typeof MODELS)[number];
const WORKERS = 4;

interface Ports {
  zen: number;
  http: number;
}

interface RateDaemon extends AsyncDisposable {
  daemon: TestDaemon;
  ports: Ports;
}

/** Starts koan with a Zen and an HTTP listener on `model`, and `sections`. */
async function startRateDaemon(
  model: Model,
  sections: string,
): Promise<RateDaemon> {
  const ports: Ports = { zen: freePort(), http: freePort() };
  const listeners = (["zen", "http"] as const).map((protocol) =>
    [
      "[[listener]]",
      `protocol = "${protocol}"`,
      `address = "127.0.0.1:${ports[protocol]}"`,
      `model = "${model}"`,
      ...(model === "async" ? [] : [`workers = ${WORKERS}`]),
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

const QUESTION = "Beautiful is better than?";
const BUSY = "Error: server busy.";
const SLOW_DOWN = "Error: slow down.";
const GET = "GET / HTTP/1.1\r\nHost: koan.test\r\n\r\n";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A response's status and headers, framed by Content-Length. */
interface Response {
  status: number;
  headers: Map<string, string>;
}

/**
 * Takes whole responses off the front of `text`; returns them and what
 * is left (a response still arriving).
 */
function takeResponses(text: string): { responses: Response[]; rest: string } {
  const responses: Response[] = [];
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
    const length = Number(headers.get("content-length") ?? 0);
    if (text.length < end + 4 + length) break;
    responses.push({ status: Number(statusLine!.split(" ")[1]), headers });
    text = text.slice(end + 4 + length);
  }
  return { responses, rest: text };
}

/** Sends `requests` on `conn` and reads as many responses. */
async function exchange(
  conn: Deno.Conn,
  requests: string,
  count: number,
): Promise<Response[]> {
  await send(conn, requests);
  const { text } = await readUntil(
    conn,
    (t) => takeResponses(t).responses.length >= count,
  );
  const { responses } = takeResponses(text);
  assert.equal(responses.length, count, text);
  return responses;
}

/**
 * Scrapes so far. Each comes from an address of its own (127.0.9.x), so
 * the limits under test never refuse it.
 */
let scrapes = 0;

/** A /metrics series' value (summed over series whose labels include `labels`). */
async function metric(
  port: number,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const n = scrapes++;
  using conn = await connectFrom(port, `127.0.${9 + (n >> 8)}.${n & 255}`);
  await send(
    conn,
    "GET /metrics HTTP/1.1\r\nHost: koan.test\r\nConnection: close\r\n\r\n",
  );
  const { text } = await readUntil(conn, () => false);
  let total = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((
        m,
      ) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(match[3]);
    }
  }
  return total;
}

/** Opens `n` Zen connections from `address` at once; how many were answered. */
async function connectBurst(
  port: number,
  address: string,
  n: number,
): Promise<{ answered: number; refused: number }> {
  const conns = await Promise.all(
    Array.from({ length: n }, () => connectFrom(port, address)),
  );
  const answers = await Promise.all(conns.map(async (conn) => {
    try {
      await send(conn, QUESTION);
    } catch (error) {
      // Refused and closed before the question went out: a reset.
      if (!(error instanceof Error)) throw error;
    }
    return (await readUntil(conn, ".")).text;
  }));
  for (const conn of conns) conn.close();
  for (const answer of answers) assert.ok(["ugly.", BUSY].includes(answer));
  const answered = answers.filter((a) => a === "ugly.").length;
  return { answered, refused: n - answered };
}

for (const model of MODELS) {
  Deno.test(`${model}: rate_per_source admits rate + burst connections at once, refuses the rest, recovers`, async () => {
    // 2/s with a burst of 3: 5 at once, then one every 500 ms.
    await using koan = await startRateDaemon(
      model,
      "[limits]\nrate_per_source = 2\nrate_burst = 3",
    );
    const started = performance.now();
    const burst = await connectBurst(koan.ports.zen, "127.0.0.21", 9);
    const burstEnd = performance.now();
    const seconds = (burstEnd - started) / 1000;
    // Tokens that came back while the burst was being served may admit more.
    const extra = Math.floor(seconds * 2);
    assert.ok(
      burst.answered >= 5 && burst.answered <= 5 + extra,
      `${burst.answered} of 9 admitted in ${seconds.toFixed(2)} s`,
    );
    assert.equal(burst.answered + burst.refused, 9);
    // Another client is not limited by this one.
    assert.equal(
      (await connectBurst(koan.ports.zen, "127.0.0.22", 3)).answered,
      3,
    );
    await pause(1100);
    const later = await connectBurst(koan.ports.zen, "127.0.0.21", 4);
    const since = (performance.now() - burstEnd) / 1000;
    // Two tokens a second since the burst, plus what was left of one.
    assert.ok(
      later.answered >= 2 && later.answered <= Math.floor(2 * since) + 1,
      `${later.answered} admitted ${since.toFixed(2)} s after the burst`,
    );
    // HTTP is refused as max_per_source refuses it: 503.
    for (let i = 0; i < 5; i++) {
      using conn = await connectFrom(koan.ports.http, "127.0.0.23");
      await exchange(conn, GET, 1);
    }
    {
      using conn = await connectFrom(koan.ports.http, "127.0.0.23");
      const [refused] = await exchange(conn, GET, 1);
      assert.equal(refused!.status, 503);
    }
    const refused = burst.refused + later.refused + 1;
    await eventually(
      async () =>
        await metric(koan.ports.http, "koan_connections_refused_total", {
          reason: "rate_per_source",
        }) === refused,
      `koan_connections_refused_total{reason="rate_per_source"} = ${refused}`,
    );
  });

  Deno.test(`${model}: request_rate answers HTTP 429 with Retry-After and Zen "slow down", keeping the connection`, async () => {
    // 2/s with a burst of 1: two requests at once, then one per 500 ms.
    await using koan = await startRateDaemon(
      model,
      "[http]\nrequest_rate = 2\nrequest_burst = 1",
    );
    {
      using conn = await connectFrom(koan.ports.http, "127.0.0.31");
      const responses = await exchange(conn, GET.repeat(4), 4);
      assert.deepEqual(responses.map((r) => r.status), [200, 200, 429, 429]);
      assert.equal(responses[2]!.headers.get("retry-after"), "1");
      assert.equal(responses[2]!.headers.get("connection"), undefined);
      await pause(600);
      const [again] = await exchange(conn, GET, 1);
      assert.equal(again!.status, 200, "the same connection, a token later");
    }
    {
      using conn = await connectFrom(koan.ports.zen, "127.0.0.31");
      await send(conn, QUESTION.repeat(3));
      const { text } = await readUntil(conn, `ugly.ugly.${SLOW_DOWN}`);
      assert.equal(text, `ugly.ugly.${SLOW_DOWN}`);
      await pause(600);
      await send(conn, QUESTION);
      assert.equal((await readUntil(conn, ".")).text, "ugly.");
    }
    await eventually(
      async () =>
        await metric(koan.ports.http, "koan_requests_limited_total", {
            protocol: "http",
          }) === 2 &&
        await metric(koan.ports.http, "koan_requests_limited_total", {
            protocol: "zen",
          }) === 1,
      "koan_requests_limited_total: 2 HTTP requests, 1 Zen question",
    );
    // A pool worker answering /metrics sees the others' counts as of up to
    // about two seconds ago: wait for the 429s as for the counters above.
    await eventually(
      async () =>
        await metric(koan.ports.http, "koan_requests_total", {
          status: "429",
        }) === 2,
      "koan_requests_total{status=429}: 2",
    );
  });

  Deno.test(`${model}: one client flooding ${model === "async" ? "koan" : `${WORKERS} workers`} gets request_rate, not more`, async () => {
    // 100/s with a burst of 10 over 3 s: ideally 11 + 300 requests. The
    // burst absorbs the flood's own pauses (with none, a token that comes
    // back while no request is there to take it is lost, as in nginx).
    await using koan = await startRateDaemon(
      model,
      `[http]\nrequest_rate = ${RATE}\nrequest_burst = ${BURST}\n\n[log]\naccess = false`,
    );
    const { allowed, limited, seconds } = await flood(koan.ports.http, 3000);
    const ideal = BURST + 1 + RATE * seconds;
    console.log(
      `${model}: ${allowed} allowed, ${limited} limited in ${
        seconds.toFixed(2)
      } s (ideal ${ideal.toFixed(1)})`,
    );
    assert.ok(limited > allowed, `the client asked for more (${limited} 429s)`);
    // One table per listener in every model: never more than one bucket
    // allows (four workers that each counted alone would allow 4x). A
    // little less by the time the flood takes to connect.
    assert.ok(
      allowed <= ideal + 2 && allowed >= 0.97 * ideal - 3,
      `${allowed} allowed in ${seconds.toFixed(2)} s; ideal ${
        ideal.toFixed(0)
      }`,
    );
  });
}

/** The flood's request_rate and request_burst. */
const RATE = 100;
const BURST = 10;

/**
 * Four keep-alive connections from 127.0.0.41 asking `GET /` one after
 * another for `ms`; the 200s and 429s, and the seconds from the first
 * request sent to the last answer read.
 */
async function flood(
  port: number,
  ms: number,
): Promise<{ allowed: number; limited: number; seconds: number }> {
  const BATCH = 8;
  let allowed = 0;
  let limited = 0;
  const start = performance.now();
  let last = start;
  const one = async () => {
    using conn = await connectFrom(port, "127.0.0.41");
    const buffer = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    let rest = "";
    while (performance.now() - start < ms) {
      // A pipelined batch: requests arrive closer together than a token.
      await send(conn, GET.repeat(BATCH));
      for (let got = 0; got < BATCH;) {
        const n = await conn.read(buffer);
        assert.ok(n !== null, "the connection stays open");
        const taken = takeResponses(
          rest + decoder.decode(buffer.subarray(0, n)),
        );
        rest = taken.rest;
        for (const response of taken.responses) {
          if (response.status === 200) allowed++;
          else if (response.status === 429) limited++;
          else assert.fail(`status ${response.status}`);
        }
        got += taken.responses.length;
      }
      last = performance.now();
    }
  };
  await Promise.all([one(), one(), one(), one()]);
  return { allowed, limited, seconds: (last - start) / 1000 };
}

Deno.test("async: 5,000 distinct sources leave 5,000 entries of rate_per_source state, in a table of fixed size", async () => {
  await using koan = await startRateDaemon(
    "async",
    "[limits]\nrate_per_source = 1\nmax_connections = 100000\n\n[log]\naccess = false",
  );
  const SOURCES = 5000;
  const firstScrape = scrapes;
  const connectOnce = (address: string) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({
        host: "127.0.0.1",
        port: koan.ports.zen,
        localAddress: address,
      });
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", reject);
    });
  let next = 0;
  const worker = async () => {
    while (next < SOURCES) {
      const i = next++;
      await connectOnce(`127.1.${i >> 8}.${i & 255}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  // The HTTP listener's own table holds the scrapes' sources (one each,
  // the one asking included).
  await eventually(
    async () => {
      const before = scrapes;
      const sources = await metric(koan.ports.http, "koan_rate_limit_sources", {
        limit: "rate_per_source",
      });
      return sources === SOURCES + (before - firstScrape) + 1;
    },
    `koan_rate_limit_sources{limit="rate_per_source"} = ${SOURCES} + scrapes`,
  );
  assert.equal(
    await metric(koan.ports.http, "koan_connections_refused_total", {
      reason: "rate_per_source",
    }),
    0,
    "each source connected once: none was refused",
  );
});
