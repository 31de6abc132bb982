import assert from "node:assert/strict";
import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import type {
  AccessRecord,
  ConnectionContext,
  Handler,
  Protocol,
  Transport,
} from "../protocols/contract.ts";
import { loadLogging } from "../log/log.ts";
import { LATENCY_BUCKETS, Metrics } from "../metrics/registry.ts";
import {
  type AcceptedConn,
  Acceptor,
  type AcceptorOptions,
  type AcceptSource,
  FRESH_GRACE_MS,
} from "./acceptor.ts";
import { LocalLimiter } from "./limiter.ts";
import { V2_SIGNATURE } from "./proxy_header.ts";
import { ConnTransport } from "./transport.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BUSY = encoder.encode("busy\n");

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Waits until `check()` holds, failing after `ms`. */
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Condition not met in ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A client connection: records what was written to it and whether it was closed. */
class FakeConn implements AcceptedConn {
  readonly local = "127.0.0.1:1060";
  readonly peer: string;
  written: string[] = [];
  closed = false;

  constructor(readonly source: string, port: number) {
    this.peer = `${source}:${port}`;
  }

  read(_buffer: Uint8Array): Promise<number | null> {
    return Promise.resolve(null);
  }

  write(bytes: Uint8Array): Promise<number> {
    this.written.push(decoder.decode(bytes));
    return Promise.resolve(bytes.length);
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * A listening socket whose backlog the test fills: `queue()` adds clients
 * (or accept errors) that `accept()` hands out in order.
 */
class FakeSource implements AcceptSource {
  /** Clients (or errors) not yet returned by `accept()`: the kernel's backlog. */
  backlog: (AcceptedConn | Error)[] = [];
  accepts = 0;
  closed = false;
  #waiting: {
    resolve: (conn: AcceptedConn) => void;
    reject: (error: Error) => void;
  }[] = [];

  accept(): Promise<AcceptedConn> {
    this.accepts++;
    if (this.closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    const next = this.backlog.shift();
    if (next instanceof Error) return Promise.reject(next);
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) =>
      this.#waiting.push({ resolve, reject })
    );
  }

  queue(...items: (AcceptedConn | Error)[]): void {
    for (const item of items) {
      const waiter = this.#waiting.shift();
      if (!waiter) this.backlog.push(item);
      else if (item instanceof Error) waiter.reject(item);
      else waiter.resolve(item);
    }
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      waiter.reject(new Deno.errors.BadResource("closed"));
    }
  }
}

/** One connection a {@linkcode HeldHandler} is serving. */
interface Served {
  peer: string;
  transport: Transport;
  context: ConnectionContext;
  /** Ends the handler. */
  finish(): void;
}

/** A handler that serves until the test calls `finish()` (or, with `untilDraining`, until told to drain). */
class HeldHandler {
  served: Served[] = [];
  untilDraining = false;

  handler: Handler = (transport, context) =>
    new Promise<void>((resolve) => {
      this.served.push({
        peer: context.info.peer,
        transport,
        context,
        finish: resolve,
      });
      if (this.untilDraining) {
        context.draining.addEventListener("abort", () => resolve(), {
          once: true,
        });
      }
    });

  get peers(): string[] {
    return this.served.map((s) => s.peer);
  }
}

const protocol: Protocol = {
  name: "zen",
  busyReply: BUSY,
  settings: () => ({}),
  create: () => () => Promise.resolve(),
};

function acceptor(
  source: AcceptSource,
  handler: Handler,
  options: Partial<AcceptorOptions> = {},
): { acceptor: Acceptor; metrics: Metrics; access: AccessRecord[] } {
  const metrics = new Metrics();
  const access: AccessRecord[] = [];
  return {
    acceptor: new Acceptor(source, {
      protocol,
      handler: () => handler,
      limiter: new LocalLimiter({ maxConnections: 100, maxPerSource: 0 }),
      concurrency: 0,
      sendTimeoutMs: () => 30_000,
      access: (record) => access.push(record),
      metrics,
      ...options,
    }),
    metrics,
    access,
  };
}

/** Routes `koan.net` log records to `lines` (as "level message") until disposed. */
async function captureNetLog(lines: string[]): Promise<Disposable> {
  await loadLogging(); // so that lines reach LogTape as they are logged
  configureSync({
    sinks: {
      test: (record: LogRecord) =>
        lines.push(`${record.level} ${record.message.join("")}`),
    },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
      { category: ["koan", "net"], sinks: ["test"], lowestLevel: "debug" },
    ],
  });
  return { [Symbol.dispose]: () => resetSync() };
}

/** Makes `performance.now()` read `clock.now` until disposed. */
function stubClock(clock: { now: number }): Disposable {
  Object.defineProperty(performance, "now", {
    value: () => clock.now,
    configurable: true,
    writable: true,
  });
  return {
    [Symbol.dispose]: () => {
      delete (performance as { now?: unknown }).now;
    },
  };
}

Deno.test("Acceptor leaves connections un-accepted while every concurrency slot is busy", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, { concurrency: 2 });
  source.queue(
    new FakeConn("10.0.0.1", 1),
    new FakeConn("10.0.0.2", 2),
    new FakeConn("10.0.0.3", 3),
  );
  const run = a.run();
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.2:2"]);
  assert.equal(source.accepts, 2);
  assert.equal(source.backlog.length, 1);
  assert.equal(a.connections, 2);

  held.served[0]!.finish();
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3"]);
  assert.equal(source.backlog.length, 0);
  assert.equal(a.connections, 2);

  for (const served of held.served) served.finish();
  a.stop();
  await run;
  assert.equal(a.connections, 0);
});

Deno.test("Acceptor with concurrency 1 serves each connection to its end before accepting the next", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, { concurrency: 1 });
  source.queue(new FakeConn("10.0.0.1", 1), new FakeConn("10.0.0.2", 2));
  const run = a.run();
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1"]);
  assert.equal(source.accepts, 1);
  held.served[0]!.finish();
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.2:2"]);
  assert.equal(source.accepts, 2);
  held.served[1]!.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor refuses past max_connections with the busy reply, closes and counts it", async () => {
  const lines: string[] = [];
  using _log = await captureNetLog(lines);
  const source = new FakeSource();
  const held = new HeldHandler();
  const limiter = new LocalLimiter({ maxConnections: 1, maxPerSource: 0 });
  const refusals: string[] = [];
  const { acceptor: a, metrics } = acceptor(source, held.handler, {
    limiter,
    label: "zen-main",
    onRefused: (reason) => refusals.push(reason),
  });
  const first = new FakeConn("10.0.0.1", 1);
  const second = new FakeConn("10.0.0.2", 2);
  source.queue(first, second);
  const run = a.run();
  await tick();

  assert.deepEqual(held.peers, ["10.0.0.1:1"]);
  assert.deepEqual(second.written, ["busy\n"]);
  assert.equal(second.closed, true);
  assert.deepEqual(first.written, []);
  assert.equal(first.closed, false);
  assert.deepEqual(refusals, ["max_connections"]);
  assert.deepEqual(metrics.snapshot().counters, {
    'koan_connections_total{listener="zen-main",protocol="zen"}': 1,
    'koan_connections_refused_total{listener="zen-main",reason="max_connections"}':
      1,
  });
  assert.deepEqual(lines, ["warning refused 10.0.0.2:2: max_connections"]);

  // The slot frees when the first connection ends: the next client is served.
  held.served[0]!.finish();
  await tick();
  assert.equal(first.closed, true);
  assert.equal(limiter.open, 0);
  source.queue(new FakeConn("10.0.0.3", 3));
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.3:3"]);
  held.served[1]!.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor refuses a source past max_per_source and admits others", async () => {
  using _log = await captureNetLog([]);
  const source = new FakeSource();
  const held = new HeldHandler();
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 1 });
  const { acceptor: a, metrics } = acceptor(source, held.handler, { limiter });
  const again = new FakeConn("10.0.0.1", 2);
  source.queue(
    new FakeConn("10.0.0.1", 1),
    again,
    new FakeConn("10.0.0.2", 3),
  );
  const run = a.run();
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.2:3"]);
  assert.deepEqual(again.written, ["busy\n"]);
  assert.equal(again.closed, true);
  assert.equal(
    metrics.snapshot().counters[
      'koan_connections_refused_total{listener="zen",reason="max_per_source"}'
    ],
    1,
  );
  assert.equal(limiter.open, 2);

  // Once its connection ends, the source may connect again.
  held.served[0]!.finish();
  await tick();
  source.queue(new FakeConn("10.0.0.1", 4));
  await tick();
  assert.deepEqual(held.peers, ["10.0.0.1:1", "10.0.0.2:3", "10.0.0.1:4"]);
  for (const served of held.served) served.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor backs off on accept errors, logging once per episode, and recovers", async () => {
  const lines: string[] = [];
  using _log = await captureNetLog(lines);
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler);
  const emfile = () => new Error("Too many open files (os error 24)");
  source.queue(emfile(), emfile(), new FakeConn("10.0.0.1", 1));
  const run = a.run();
  await until(() => held.served.length === 1);
  assert.deepEqual(lines, [
    "warning accept failed: Too many open files (os error 24); retrying with backoff up to 1 s",
    "info accept recovered after 2 failed tries",
  ]);

  // A later episode is reported again, with its own count.
  source.queue(emfile(), new FakeConn("10.0.0.2", 2));
  await until(() => held.served.length === 2);
  assert.deepEqual(lines.slice(2), [
    "warning accept failed: Too many open files (os error 24); retrying with backoff up to 1 s",
    "info accept recovered after 1 failed tries",
  ]);
  assert.equal(source.accepts, 6);
  for (const served of held.served) served.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor.drain() aborts every connection's draining signal and resolves when they end", async () => {
  const clock = { now: 0 };
  using _clock = stubClock(clock);
  const source = new FakeSource();
  const held = new HeldHandler();
  held.untilDraining = true;
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 0 });
  const { acceptor: a, metrics } = acceptor(source, held.handler, { limiter });
  const conns = [new FakeConn("10.0.0.1", 1), new FakeConn("10.0.0.2", 2)];
  source.queue(...conns);
  const run = a.run();
  await tick();
  assert.deepEqual(held.served.map((s) => s.context.draining.aborted), [
    false,
    false,
  ]);

  clock.now = FRESH_GRACE_MS; // both connections are old enough to drain
  const drained = a.drain(5000);
  // This timer runs before any the drain could set to abort them later.
  await tick();
  assert.deepEqual(held.served.map((s) => s.context.draining.aborted), [
    true,
    true,
  ]);
  assert.equal(await drained, 0);
  await run;
  assert.deepEqual(held.served.map((s) => s.context.draining.aborted), [
    true,
    true,
  ]);
  assert.equal(source.closed, true);
  assert.deepEqual(conns.map((c) => c.closed), [true, true]);
  assert.equal(a.connections, 0);
  assert.equal(limiter.open, 0);
  assert.equal(
    metrics.snapshot()
      .gauges['koan_connections_open{listener="zen",protocol="zen"}'],
    0,
  );
});

Deno.test("Acceptor.drain() spares a just-accepted connection the draining signal and forces it at the deadline", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  held.untilDraining = true;
  const { acceptor: a } = acceptor(source, held.handler);
  const conn = new FakeConn("10.0.0.1", 1);
  source.queue(conn);
  const run = a.run();
  await tick();
  assert.equal(await a.drain(20), 1);
  await run;
  // Connected well under FRESH_GRACE_MS ago: it may not have sent its
  // request yet, so it was not told to drain; the deadline closed it.
  assert.equal(held.served[0]!.context.draining.aborted, false);
  const transport = held.served[0]!.transport;
  assert.ok(transport instanceof ConnTransport);
  assert.equal(transport.closed, true);
  assert.equal(conn.closed, true);
  held.served[0]!.finish();
  await tick();
  assert.equal(a.connections, 0);
});

Deno.test("Acceptor counts access records per status, or per outcome when they have none", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics, access } = acceptor(source, held.handler);
  source.queue(new FakeConn("10.0.0.1", 1));
  const run = a.run();
  await tick();
  const record = (fields: Partial<AccessRecord>): AccessRecord => ({
    protocol: "zen",
    peer: "10.0.0.1:1",
    bytesIn: 10,
    bytesOut: 100,
    durationMs: 2,
    outcome: "closed normally",
    ...fields,
  });
  const records = [
    record({ status: 200 }),
    record({ status: 200 }),
    record({ status: 404, outcome: "error" }),
    record({ requests: 3 }),
    record({ outcome: "idle timeout" }),
  ];
  for (const r of records) held.served[0]!.context.access(r);
  held.served[0]!.finish();
  a.stop();
  await run;

  assert.deepEqual(access, records);
  const snapshot = metrics.snapshot();
  assert.deepEqual(snapshot.counters, {
    'koan_connections_total{listener="zen",protocol="zen"}': 1,
    'koan_requests_total{protocol="zen",status="200"}': 2,
    'koan_requests_total{protocol="zen",status="404"}': 1,
    'koan_requests_total{protocol="zen",status="answered"}': 3,
    'koan_connections_closed_total{outcome="closed normally",protocol="zen"}':
      1,
    'koan_connections_closed_total{outcome="idle timeout",protocol="zen"}': 1,
    'koan_received_bytes_total{protocol="zen"}': 50,
    'koan_sent_bytes_total{protocol="zen"}': 500,
  });
  const duration = snapshot.histograms[
    'koan_request_duration_seconds{protocol="zen"}'
  ];
  assert.equal(duration?.count, 5);
  assert.equal(duration?.sum, 0.01);
});

Deno.test("Acceptor.drain() tells each fresh connection to drain once it is old enough, in accept order", async () => {
  const clock = { now: 0 };
  using _clock = stubClock(clock);
  const source = new FakeSource();
  const held = new HeldHandler();
  held.untilDraining = true;
  const { acceptor: a } = acceptor(source, held.handler);
  const run = a.run();
  source.queue(new FakeConn("10.0.0.1", 1));
  await tick();
  clock.now = 300;
  source.queue(new FakeConn("10.0.0.2", 2));
  await tick();
  clock.now = 600;
  const drained = a.drain(5000);
  const aborted = () => held.served.map((s) => s.context.draining.aborted);
  await tick();
  assert.deepEqual(aborted(), [false, false]);
  clock.now = 1000; // the first is FRESH_GRACE_MS old when its timer fires
  await until(() => aborted()[0] === true, FRESH_GRACE_MS);
  assert.deepEqual(aborted(), [true, false]);
  clock.now = 1300;
  await until(() => aborted()[1] === true, FRESH_GRACE_MS);
  assert.equal(await drained, 0);
  await run;
});

Deno.test("Acceptor hands the handler a context whose info is a plain object", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, access } = acceptor(source, held.handler);
  const run = a.run();
  source.queue(new FakeConn("10.0.0.7", 7));
  await tick();
  const { context, transport } = held.served[0]!;
  // Workers get it by postMessage: own properties only, no getters.
  assert.deepEqual(structuredClone(context.info), {
    peer: "10.0.0.7:7",
    local: "127.0.0.1:1060",
  });
  assert.equal(context.info, context.info);
  context.access({
    protocol: "zen",
    peer: context.info.peer,
    bytesIn: 1,
    bytesOut: 2,
    durationMs: 3,
    outcome: "closed normally",
  });
  assert.equal(access.length, 1);
  assert.equal(context.draining.aborted, false);
  assert.equal(context.draining, context.draining);
  held.served[0]!.finish();
  await until(() => a.connections === 0);
  assert.equal((transport as ConnTransport).closed, true);
  a.stop();
  await run;
});

Deno.test("Acceptor counts each access record by status or outcome, with bytes and duration", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics, access } = acceptor(source, held.handler);
  source.queue(new FakeConn("10.0.0.1", 1));
  const run = a.run();
  await tick();
  const { context } = held.served[0]!;
  const record = (fields: Partial<AccessRecord>): AccessRecord => ({
    protocol: "zen",
    peer: "10.0.0.1:1",
    bytesIn: 10,
    bytesOut: 100,
    durationMs: 2,
    outcome: "closed normally",
    ...fields,
  });
  // Per-request records (HTTP's), the same status in a row and not.
  context.access(record({ status: 200 }));
  context.access(record({ status: 200 }));
  context.access(record({ status: 404, durationMs: 30 }));
  context.access(record({ status: 200 }));
  const perRequest = metrics.snapshot().counters;
  assert.equal(
    perRequest['koan_requests_total{protocol="zen",status="200"}'],
    3,
  );
  assert.equal(
    perRequest['koan_requests_total{protocol="zen",status="404"}'],
    1,
  );
  assert.equal(
    perRequest['koan_requests_total{protocol="zen",status="answered"}'],
    undefined,
    "no per-connection series before a connection record",
  );
  // A per-connection record (Zen's, echo's).
  context.access(record({ requests: 3, bytesIn: 1, bytesOut: 2 }));
  const counters = metrics.snapshot().counters;
  assert.equal(
    counters['koan_requests_total{protocol="zen",status="answered"}'],
    3,
  );
  assert.equal(
    counters[
      'koan_connections_closed_total{outcome="closed normally",protocol="zen"}'
    ],
    1,
  );
  assert.equal(counters['koan_received_bytes_total{protocol="zen"}'], 41);
  assert.equal(counters['koan_sent_bytes_total{protocol="zen"}'], 402);
  const duration = metrics.snapshot().histograms[
    'koan_request_duration_seconds{protocol="zen"}'
  ];
  assert.equal(duration?.count, 5);
  assert.equal(duration?.counts[LATENCY_BUCKETS.indexOf(0.0025)], 4);
  assert.equal(duration?.counts[LATENCY_BUCKETS.indexOf(0.05)], 1);
  assert.equal(access.length, 5, "every record reaches the access log");
  held.served[0]!.finish();
  a.stop();
  await run;
});

/**
 * A client whose bytes the test sends in chunks (`send`, `end`): reads
 * wait for them, as a socket's do; closing ends a pending read.
 */
class ScriptedConn extends FakeConn {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #reader: ((n: number | null) => void) | undefined;
  #into: Uint8Array | undefined;
  reads = 0;

  send(data: string | Uint8Array): void {
    this.#chunks.push(typeof data === "string" ? encoder.encode(data) : data);
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  override read(buffer: Uint8Array): Promise<number | null> {
    this.reads++;
    return new Promise((resolve) => {
      this.#reader = resolve;
      this.#into = buffer;
      this.#wake();
    });
  }

  override close(): void {
    super.close();
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const resolve = this.#reader;
    const into = this.#into;
    if (!resolve || !into) return;
    const chunk = this.#chunks[0];
    if (chunk) {
      const n = Math.min(chunk.length, into.length);
      into.set(chunk.subarray(0, n));
      if (n < chunk.length) this.#chunks[0] = chunk.subarray(n);
      else this.#chunks.shift();
      this.#reader = this.#into = undefined;
      resolve(n);
    } else if (this.#ended) {
      this.#reader = this.#into = undefined;
      resolve(null);
    }
  }
}

/** A set of addresses for {@linkcode EdgeSettings.trusted}. */
function addresses(...list: string[]) {
  return { has: (address: string) => list.includes(address) };
}

/** Reads what the handler's transport gives, until `length` bytes or its end. */
async function readText(transport: Transport, length: number) {
  let text = "";
  const buffer = new Uint8Array(64);
  while (text.length < length) {
    const n = await transport.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

const PROXY_V1 = "PROXY TCP4 192.0.2.7 10.0.0.9 51234 1060\r\n";

Deno.test("Acceptor takes the client a trusted proxy's PROXY header names, and hands the bytes after it to the handler", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 0 });
  const { acceptor: a } = acceptor(source, held.handler, {
    limiter,
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const conn = new ScriptedConn("10.0.0.1", 40000);
  source.queue(conn);
  conn.send(`${PROXY_V1}Beautiful is better than?\n`);
  await until(() => held.served.length === 1);
  const { context, transport } = held.served[0]!;
  assert.deepEqual(structuredClone(context.info), {
    peer: "192.0.2.7:51234",
    local: "127.0.0.1:1060",
    trustedProxy: true,
  });
  assert.equal(await readText(transport, 26), "Beautiful is better than?\n");
  // Past the pushed-back bytes, reads go to the socket.
  conn.send("Flat?\n");
  assert.equal(await readText(transport, 6), "Flat?\n");
  held.served[0]!.finish();
  await until(() => a.connections === 0);
  assert.equal(limiter.open, 0, "released under the source it was admitted as");
  a.stop();
  await run;
});

Deno.test("Acceptor reads a PROXY header arriving a byte at a time without holding up other connections", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, {
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const slow = new ScriptedConn("10.0.0.1", 1);
  const fast = new ScriptedConn("10.0.0.1", 2);
  source.queue(slow, fast);
  const header = encoder.encode(PROXY_V1);
  slow.send(header.subarray(0, 1));
  await tick();
  fast.send("PROXY TCP6 2001:db8::1 ::1 7 1060\r\n");
  await until(() => held.served.length === 1);
  assert.deepEqual(held.peers, ["[2001:db8::1]:7"]);
  for (let i = 1; i < header.length; i++) {
    slow.send(header.subarray(i, i + 1));
    await tick();
  }
  await until(() => held.served.length === 2);
  assert.deepEqual(held.peers, ["[2001:db8::1]:7", "192.0.2.7:51234"]);
  assert.ok(slow.reads >= header.length, "one read per byte sent");
  for (const served of held.served) served.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor closes, counts and logs a PROXY header from a peer not in trusted_proxies", async () => {
  const lines: string[] = [];
  using _log = await captureNetLog(lines);
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics } = acceptor(source, held.handler, {
    label: "zen-main",
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.2") }),
  });
  const run = a.run();
  const conn = new ScriptedConn("10.0.0.1", 5);
  conn.send(PROXY_V1);
  source.queue(conn);
  await until(() => conn.closed);
  assert.equal(conn.reads, 0, "not read at all");
  assert.deepEqual(conn.written, []);
  assert.deepEqual(held.served, []);
  assert.deepEqual(metrics.snapshot().counters, {
    'koan_proxy_refused_total{listener="zen-main",reason="untrusted"}': 1,
  });
  assert.deepEqual(lines, [
    "warning refused 10.0.0.1:5: untrusted: not in trusted_proxies, and the listener expects a PROXY protocol header",
  ]);
  a.stop();
  await run;
});

Deno.test("Acceptor closes, counts and logs a malformed, cut-short or late PROXY header", async () => {
  const lines: string[] = [];
  using _log = await captureNetLog(lines);
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics } = acceptor(source, held.handler, {
    edge: () => ({
      proxyProtocol: true,
      trusted: addresses("10.0.0.1"),
      headerTimeoutMs: 150,
    }),
  });
  const run = a.run();
  const malformed = new ScriptedConn("10.0.0.1", 1);
  malformed.send("GET / HTTP/1.1\r\n\r\n");
  const short = new ScriptedConn("10.0.0.1", 2);
  short.send("PROXY TCP4 192.0");
  short.end();
  const empty = new ScriptedConn("10.0.0.1", 3);
  empty.end();
  const late = new ScriptedConn("10.0.0.1", 4);
  late.send("PROXY TCP4 ");
  source.queue(malformed, short, empty, late);
  await until(() => [malformed, short, empty].every((c) => c.closed));
  assert.equal(late.closed, false);
  await until(() => late.closed, 2000);
  assert.deepEqual(held.served, []);
  assert.deepEqual(metrics.snapshot().counters, {
    'koan_proxy_refused_total{listener="zen",reason="malformed"}': 1,
    'koan_proxy_refused_total{listener="zen",reason="closed"}': 2,
    'koan_proxy_refused_total{listener="zen",reason="timeout"}': 1,
  });
  assert.deepEqual(lines.sort(), [
    "debug refused 10.0.0.1:3: closed: closed after 0 bytes, before its PROXY protocol header was complete",
    "warning refused 10.0.0.1:1: malformed: The connection does not start with a PROXY protocol header (first byte 0x47)",
    "warning refused 10.0.0.1:2: closed: closed after 16 bytes, before its PROXY protocol header was complete",
    "warning refused 10.0.0.1:4: timeout: no complete PROXY protocol header within 0.15 s",
  ]);
  a.stop();
  await run;
});

Deno.test("Acceptor logs at most 10 edge refusals a second, then says how many it left out", async () => {
  const clock = { now: 0 };
  using _clock = stubClock(clock);
  const lines: string[] = [];
  using _log = await captureNetLog(lines);
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics } = acceptor(source, held.handler, {
    edge: () => ({ proxyProtocol: true, trusted: undefined }),
  });
  const run = a.run();
  for (let i = 1; i <= 13; i++) source.queue(new FakeConn("10.0.0.1", i));
  await tick();
  assert.equal(lines.length, 10);
  clock.now = 1000;
  source.queue(new FakeConn("10.0.0.1", 14));
  await tick();
  assert.deepEqual(lines.slice(10), [
    "warning 3 more connections refused at the edge were not logged",
    "warning refused 10.0.0.1:14: untrusted: not in trusted_proxies, and the listener expects a PROXY protocol header",
  ]);
  assert.equal(
    metrics.snapshot().counters[
      'koan_proxy_refused_total{listener="zen",reason="untrusted"}'
    ],
    14,
  );
  a.stop();
  await run;
});

Deno.test("Acceptor applies max_per_source to the address a PROXY header names", async () => {
  using _log = await captureNetLog([]);
  const source = new FakeSource();
  const held = new HeldHandler();
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 1 });
  const { acceptor: a } = acceptor(source, held.handler, {
    limiter,
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const header = (client: string, port: number) =>
    `PROXY TCP4 ${client} 10.0.0.9 ${port} 1060\r\n`;
  const conns = [
    ["192.0.2.1", 1],
    ["192.0.2.2", 2],
    ["192.0.2.1", 3],
  ].map(([client, port], i) => {
    const conn = new ScriptedConn("10.0.0.1", 100 + i);
    conn.send(header(client as string, port as number));
    return conn;
  });
  source.queue(...conns);
  await until(() => conns[2]!.closed);
  // One proxy, two clients: both served; the first client again: refused.
  assert.deepEqual(held.peers, ["192.0.2.1:1", "192.0.2.2:2"]);
  assert.deepEqual(conns[2]!.written, ["busy\n"]);
  assert.equal(limiter.open, 2);
  for (const served of held.served) served.finish();
  await until(() => a.connections === 0);
  assert.equal(limiter.open, 0);
  a.stop();
  await run;
});

Deno.test("Acceptor keeps the socket's peer for a v2 LOCAL header and for v1 UNKNOWN", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, {
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const local = new ScriptedConn("10.0.0.1", 1);
  local.send(
    new Uint8Array([
      ...V2_SIGNATURE,
      0x20,
      0x00,
      0x00,
      0x00,
    ]),
  );
  const unknown = new ScriptedConn("10.0.0.1", 2);
  unknown.send("PROXY UNKNOWN\r\n");
  source.queue(local, unknown);
  await until(() => held.served.length === 2);
  assert.deepEqual(held.peers.sort(), ["10.0.0.1:1", "10.0.0.1:2"]);
  assert.ok(held.served.every((s) => s.context.info.trustedProxy === true));
  for (const served of held.served) served.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor marks connections from trusted_proxies as such without PROXY headers", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, {
    edge: () => ({ proxyProtocol: false, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  source.queue(new FakeConn("10.0.0.1", 1), new FakeConn("10.0.0.2", 2));
  await tick();
  assert.deepEqual(
    held.served.map((s) => structuredClone(s.context.info)),
    [
      { peer: "10.0.0.1:1", local: "127.0.0.1:1060", trustedProxy: true },
      { peer: "10.0.0.2:2", local: "127.0.0.1:1060" },
    ],
  );
  for (const served of held.served) served.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor with concurrency 1 holds its slot while a PROXY header is read", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a } = acceptor(source, held.handler, {
    concurrency: 1,
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const first = new ScriptedConn("10.0.0.1", 1);
  const second = new ScriptedConn("10.0.0.1", 2);
  second.send(PROXY_V1);
  source.queue(first, second);
  await tick();
  await tick();
  assert.equal(held.served.length, 0, "not served before its header");
  assert.equal(source.accepts, 1, "the second waits in the backlog");
  first.send("PROXY TCP4 192.0.2.1 10.0.0.9 1 1060\r\n");
  await until(() => held.served.length === 1);
  assert.deepEqual(held.peers, ["192.0.2.1:1"]);
  assert.equal(source.accepts, 1);
  held.served[0]!.finish();
  await until(() => held.served.length === 2);
  held.served[1]!.finish();
  a.stop();
  await run;
});

Deno.test("Acceptor runs the secure wrap after admission and serves what it returns, as the connection it was given", async () => {
  using _log = await captureNetLog([]);
  const source = new FakeSource();
  const held = new HeldHandler();
  const limiter = new LocalLimiter({ maxConnections: 10, maxPerSource: 1 });
  const wrapped: string[] = [];
  const order: string[] = [];
  const { acceptor: a } = acceptor(source, held.handler, {
    limiter,
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
    secure: () => (conn) => {
      order.push(`secure ${conn.peer} open=${limiter.open}`);
      wrapped.push(conn.peer);
      if (conn.peer.startsWith("192.0.2.2")) {
        conn.close();
        return Promise.resolve(null);
      }
      // A "TLS" transport: another duplex, with an address of its own.
      const plain = new ScriptedConn("203.0.113.1", 9);
      plain.send("decrypted\n");
      return Promise.resolve(plain);
    },
  });
  const run = a.run();
  const good = new ScriptedConn("10.0.0.1", 1);
  good.send("PROXY TCP4 192.0.2.1 10.0.0.9 1 1060\r\nciphertext");
  const failing = new ScriptedConn("10.0.0.1", 2);
  failing.send("PROXY TCP4 192.0.2.2 10.0.0.9 2 1060\r\n");
  const over = new ScriptedConn("10.0.0.1", 3);
  over.send("PROXY TCP4 192.0.2.1 10.0.0.9 3 1060\r\n");
  source.queue(good);
  await until(() => held.served.length === 1);
  source.queue(failing, over);
  await until(() => failing.closed && over.closed);
  // Refused by the limiter before any handshake; a failed handshake's
  // admission is given back.
  assert.deepEqual(wrapped, ["192.0.2.1:1", "192.0.2.2:2"]);
  assert.deepEqual(order, [
    "secure 192.0.2.1:1 open=1",
    "secure 192.0.2.2:2 open=2",
  ]);
  assert.deepEqual(over.written, ["busy\n"]);
  await until(() => limiter.open === 1);
  const { context, transport } = held.served[0]!;
  assert.equal(context.info.peer, "192.0.2.1:1");
  assert.equal(context.info.trustedProxy, true);
  assert.equal(await readText(transport, 10), "decrypted\n");
  assert.deepEqual(held.peers, ["192.0.2.1:1"]);
  held.served[0]!.finish();
  await until(() => limiter.open === 0);
  a.stop();
  await run;
});

Deno.test("Acceptor admits through an admission wrapper after the edge, so it sees the PROXY header's client", async () => {
  using _log = await captureNetLog([]);
  const source = new FakeSource();
  const held = new HeldHandler();
  const asked: string[] = [];
  // As the processes model's admittingSource: ask, then yield or refuse.
  const admission = (inner: AcceptSource): AcceptSource => ({
    async accept() {
      for (;;) {
        const conn = await inner.accept();
        asked.push(conn.source);
        await tick();
        if (conn.source !== "192.0.2.66") return conn;
        conn.close();
      }
    },
    close: () => inner.close(),
  });
  const { acceptor: a } = acceptor(source, held.handler, {
    concurrency: 2,
    admission,
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const conns = ["192.0.2.66", "192.0.2.1", "192.0.2.2"].map((client, i) => {
    const conn = new ScriptedConn("10.0.0.1", i + 1);
    conn.send(`PROXY TCP4 ${client} 10.0.0.9 ${i + 1} 1060\r\n`);
    return conn;
  });
  source.queue(...conns);
  await until(() => held.served.length === 2);
  assert.deepEqual(asked, ["192.0.2.66", "192.0.2.1", "192.0.2.2"]);
  assert.equal(conns[0]!.closed, true);
  assert.deepEqual(held.peers, ["192.0.2.1:2", "192.0.2.2:3"]);
  assert.equal(source.accepts, 3, "the refused one freed its slot");
  for (const served of held.served) served.finish();
  assert.equal(await a.drain(1000), 0);
  await run;
});

Deno.test("Acceptor.drain() waits for a PROXY header on its way, and closes it at the deadline", async () => {
  const source = new FakeSource();
  const held = new HeldHandler();
  const { acceptor: a, metrics } = acceptor(source, held.handler, {
    edge: () => ({ proxyProtocol: true, trusted: addresses("10.0.0.1") }),
  });
  const run = a.run();
  const conn = new ScriptedConn("10.0.0.1", 1);
  source.queue(conn);
  await tick();
  assert.equal(await a.drain(50), 1);
  await run;
  assert.equal(conn.closed, true);
  await tick();
  assert.deepEqual(held.served, []);
  assert.deepEqual(
    metrics.snapshot().counters,
    {},
    "closed by the drain, not refused",
  );
});
