/**
 * Slowloris on every pooled model: 300 HTTP clients that trickle a head a
 * byte every ~500 ms (reconnecting when cut off) and 100 idle Zen sockets
 * must not delay a normal client's requests past 1 s; the slow clients get
 * 408 and are closed after `header_timeout`; nothing is logged as ERROR.
 */
import assert from "node:assert/strict";
import {
  connect,
  freePort,
  readUntil,
  send,
  startDaemon,
} from "../_helpers.ts";
import { httpGet, normalClient, sleep, zenAsk } from "./_load.ts";

const SLOW_CLIENTS = 300;
const IDLE_ZEN = 100;
const HEADER_TIMEOUT_S = 2;
const LOAD_MS = 5000;

/** What the slow clients saw. */
interface SlowStats {
  connections: number;
  /** Connections answered 408 then closed. */
  got408: number;
  /** Connections closed without a 408 (counted, allowed). */
  closedSilently: number;
  /** Connections still open when the client gave up waiting. */
  stillOpen: number;
  connectFailures: number;
  /** Shortest and longest life of a connection the server cut off, in ms. */
  minLifeMs: number;
  maxLifeMs: number;
  /** Slow connections open right now. */
  open: number;
  other: string[];
}

/** One slow client: trickles a head until cut off, then reconnects, until `stop`. */
async function slowClient(
  port: number,
  stop: AbortSignal,
  stats: SlowStats,
): Promise<void> {
  for (let round = 0; !stop.aborted && round < 100; round++) {
    let conn: Deno.TcpConn;
    try {
      conn = await connect(port);
    } catch {
      stats.connectFailures++;
      await sleep(200);
      continue;
    }
    stats.connections++;
    stats.open++;
    const opened = performance.now();
    let cut = false;
    const reply = readUntil(conn, () => false, HEADER_TIMEOUT_S * 1000 + 8000)
      .then((result) => {
        cut = true;
        return result;
      });
    try {
      await send(conn, "GET / HTTP/1.1\r\nHost: koan.test\r\nX-Slow: ");
      // Trickle until the server cuts us off; after `stop`, just wait for it.
      for (let i = 0; !cut && i < 60; i++) {
        await Promise.race([sleep(400 + Math.random() * 200), reply]);
        if (cut || stop.aborted) break;
        await send(conn, "a");
      }
    } catch {
      // The server closed while we wrote: read what it said.
    }
    const { text, closed } = await reply;
    stats.open--;
    const life = performance.now() - opened;
    if (closed) {
      stats.minLifeMs = Math.min(stats.minLifeMs, life);
      stats.maxLifeMs = Math.max(stats.maxLifeMs, life);
      if (text.startsWith("HTTP/1.1 408 ")) stats.got408++;
      else if (text === "") stats.closedSilently++;
      else stats.other.push(text.slice(0, 80));
    } else {
      stats.stillOpen++;
    }
    try {
      conn.close();
    } catch { /* closed by readUntil */ }
  }
}

function config(model: string, httpPort: number, zenPort: number): string {
  const workers = model === "async" ? "" : "workers = 2\n";
  return `
[[listener]]
protocol = "http"
address = "127.0.0.1:${httpPort}"
model = "${model}"
${workers}
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zenPort}"
model = "${model}"
${workers}
[http]
header_timeout = ${HEADER_TIMEOUT_S}
`;
}

/** Retries until both listeners answer (pool workers may still be starting). */
async function warmUp(httpPort: number, zenPort: number): Promise<void> {
  for (let i = 0;; i++) {
    try {
      await httpGet(httpPort, 2000);
      await zenAsk(zenPort, 2000);
      return;
    } catch (error) {
      if (i >= 100) throw error;
      await sleep(100);
    }
  }
}

for (const model of ["async", "threads", "processes"]) {
  Deno.test(`slowloris on ${model}: normal requests stay under 1 s, slow heads get 408`, async () => {
    const httpPort = freePort();
    const zenPort = freePort();
    await using daemon = await startDaemon([], {
      config: config(model, httpPort, zenPort),
      ports: [httpPort, zenPort],
      timeoutMs: 30_000,
    });
    await warmUp(httpPort, zenPort);

    const idle: Deno.TcpConn[] = [];
    for (let i = 0; i < IDLE_ZEN; i++) idle.push(await connect(zenPort));

    const stop = new AbortController();
    const slow: SlowStats = {
      connections: 0,
      got408: 0,
      closedSilently: 0,
      stillOpen: 0,
      connectFailures: 0,
      minLifeMs: Infinity,
      maxLifeMs: 0,
      open: 0,
      other: [],
    };
    const slowDone = Promise.all(
      Array.from(
        { length: SLOW_CLIENTS },
        () => slowClient(httpPort, stop.signal, slow),
      ),
    );
    // Let every slow client connect and start trickling before measuring.
    for (let i = 0; i < 50 && slow.open < SLOW_CLIENTS; i++) await sleep(50);
    const openAtStart = slow.open;

    const normal = await normalClient({
      httpPort,
      zenPort,
      durationMs: LOAD_MS,
    });
    stop.abort();
    await slowDone;

    // The idle Zen sockets were held all along and are still served.
    let idleAnswered = 0;
    for (const conn of idle) {
      try {
        await send(conn, "Readability?");
        const { text } = await readUntil(conn, ".", 3000);
        if (text === "counts.") idleAnswered++;
      } catch { /* counted as unanswered */ }
      conn.close();
    }

    console.log(
      `slowloris ${model}: ${normal.requests} normal requests, worst ${
        normal.worstMs.toFixed(1)
      } ms (http ${normal.worstHttpMs.toFixed(1)}, zen ${
        normal.worstZenMs.toFixed(1)
      }), ${normal.failures.length} failed; slow conns ${slow.connections} ` +
        `(open at start ${openAtStart}), 408 ${slow.got408}, closed silently ${slow.closedSilently}, ` +
        `life ${slow.minLifeMs.toFixed(0)}-${slow.maxLifeMs.toFixed(0)} ms; ` +
        `idle zen answered ${idleAnswered}/${IDLE_ZEN}`,
    );

    assert.equal(openAtStart, SLOW_CLIENTS, "every slow client was connected");
    assert.deepEqual(normal.failures, [], "normal requests failed");
    assert.ok(normal.requests >= 20, `only ${normal.requests} normal requests`);
    assert.ok(
      normal.worstMs < 1000,
      `worst normal latency ${normal.worstMs.toFixed(1)} ms`,
    );
    assert.equal(slow.stillOpen, 0, "slow connections never closed");
    assert.deepEqual(slow.other, [], "slow clients got something else");
    assert.equal(slow.connectFailures, 0, "slow clients could not connect");
    assert.ok(
      slow.got408 >= SLOW_CLIENTS,
      `${slow.got408} of ${slow.connections} slow connections got 408`,
    );
    // Cut off after header_timeout, not before, and not much later (the
    // slack is this test process's own event-loop lag with 400 sockets).
    assert.ok(
      slow.minLifeMs >= HEADER_TIMEOUT_S * 1000 - 250,
      `a slow client was cut after ${slow.minLifeMs.toFixed(0)} ms`,
    );
    assert.ok(
      slow.maxLifeMs <= HEADER_TIMEOUT_S * 1000 + 2500,
      `a slow client was cut only after ${slow.maxLifeMs.toFixed(0)} ms`,
    );
    assert.equal(idleAnswered, IDLE_ZEN, "idle Zen sockets were dropped");
    assert.doesNotMatch(daemon.log, /\bERROR\b/);
    await daemon.waitForLog(/ 408 /);
  });
}
