/**
 * The accept loop every in-isolate model runs: accept, admit through the
 * limiter, hand the connection to the current handler, and keep count so a
 * drain knows when it is done. `concurrency` decides the model's shape:
 * 1 serves one connection at a time (iterative, blocking pool), N caps
 * connections in flight, 0 leaves it to the event loop (async).
 *
 * Accept errors such as EMFILE pause the loop with backoff instead of
 * spinning; the kernel's backlog holds clients meanwhile.
 *
 * @module
 */
import {
  type AccessRecord,
  type ConnectionContext,
  type ConnectionInfo,
  type Handler,
  isConnectionError,
  type Protocol,
} from "../protocols/contract.ts";
import { log } from "../log/log.ts";
import type { Limiter } from "./limiter.ts";
import { ConnTransport, type Duplex } from "./transport.ts";
import { deadlines } from "../util/deadline.ts";
import {
  type Counter,
  type Histogram,
  type Metrics,
  metrics as isolateMetrics,
  seriesKey,
} from "../metrics/registry.ts";

/** Options for {@linkcode Acceptor}. */
export interface AcceptorOptions {
  /** Protocol served (for the busy reply). */
  protocol: Protocol;
  /** Current handler; read per connection so reloads reach new connections. */
  handler: () => Handler;
  /** Admission control. */
  limiter: Limiter;
  /** Connections served at once; 0 = unlimited. */
  concurrency: number;
  /** Current `limits.send_timeout` in ms. */
  sendTimeoutMs: () => number;
  /** Access-log sink. */
  access: (record: AccessRecord) => void;
  /** Called once per accepted connection (metrics, max_requests). */
  onConnection?: () => void;
  /** Called when a connection is refused by the limiter. */
  onRefused?: (reason: string) => void;
  /** Listener name in metrics. @default {protocol.name} */
  label?: string;
  /** Where to count. @default {the isolate's registry} */
  metrics?: Metrics;
}

/** An accepted connection, whichever API accepted it (`Deno.listen`, `node:net`). */
export interface AcceptedConn extends Duplex {
  /** Remote `host:port`. */
  readonly peer: string;
  /** Local `host:port`. */
  readonly local: string;
  /** Remote IP, the key for `max_per_source`. */
  readonly source: string;
}

/** Something to accept connections from. */
export interface AcceptSource {
  /** Resolves the next connection; rejects once closed (or on EMFILE, to be retried). */
  accept(): Promise<AcceptedConn>;
  /** Stops listening. Idempotent. */
  close(): void;
  /** Connections accepted but not yet returned by `accept()`, handed over once at stop. */
  takePending?(): AcceptedConn[];
}

/**
 * A connection accepted by `Deno.listen`: methods on the prototype, not
 * closures per connection, and its addresses formatted only when asked
 * (an idle connection never is; the access record at its end is).
 */
class DenoConn implements AcceptedConn {
  #conn: Deno.TcpConn;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  get peer(): string {
    return formatNetAddr(this.#conn.remoteAddr);
  }

  get local(): string {
    return formatNetAddr(this.#conn.localAddr);
  }

  get source(): string {
    return sourceOf(this.#conn.remoteAddr);
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#conn.read(buffer);
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    this.#conn.close();
  }
}

/** Adapts a `Deno.Listener` to an {@linkcode AcceptSource}. */
export function denoSource(
  listener: Deno.Listener<Deno.TcpConn>,
): AcceptSource {
  return {
    async accept(): Promise<AcceptedConn> {
      const conn = await listener.accept();
      try {
        conn.setNoDelay(true);
      } catch (error) {
        // Nothing is expected: on Linux setNoDelay() succeeds even once the
        // peer has reset the connection (checked on Deno 2.9.6), and only a
        // closed conn (BadResource) refuses. Serve it anyway: the first read
        // says whether it is still there; a throw here would lose it.
        log("net").debug("TCP_NODELAY not set for {peer}: {error}", {
          peer: formatNetAddr(conn.remoteAddr),
          error: (error as Error)?.message ?? String(error),
        });
      }
      return new DenoConn(conn);
    },
    close() {
      try {
        listener.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    },
  };
}

/** Formats a `Deno.Addr` as `host:port` / `[v6]:port`. */
export function formatNetAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return addr.transport === "unix" || addr.transport === "unixpacket"
    ? addr.path
    : "unknown";
}

function sourceOf(addr: Deno.Addr): string {
  return addr.transport === "tcp" ? addr.hostname : "local";
}

const REFUSAL_WRITE_MS = 1000;

/**
 * A connection accepted this recently when a drain begins may not have
 * sent its first request yet (it is in flight): it is told to drain only
 * once it is this old, so a reload or stop never closes a client that
 * connected just before as if it were an idle keep-alive.
 */
export const FRESH_GRACE_MS = 1000;

/**
 * Refuses a connection over the limits: one log line, the protocol's busy
 * reply (bounded in time), then a close. Never waits on the client.
 */
export function refuseConnection(
  conn: AcceptedConn,
  reason: string,
  reply: Uint8Array,
): void {
  log("net").warn("refused {peer}: {reason}", { peer: conn.peer, reason });
  const deadline = deadlines.create(() => conn.close());
  deadline.arm(REFUSAL_WRITE_MS);
  (reply.length ? conn.write(reply) : Promise.resolve(0))
    .catch((error) => {
      // The client left, or the deadline closed it first: it is refused anyway.
      if (!isConnectionError(error)) {
        log("net").debug("busy reply to {peer} failed: {error}", {
          peer: conn.peer,
          error: (error as Error)?.message ?? String(error),
        });
      }
    })
    .finally(() => {
      deadline.dispose();
      try {
        conn.close();
      } catch (error) {
        // Closed by the deadline already: a Deno.Conn closed twice throws
        // BadResource (a node:net one does not throw). Anything else is
        // logged: a throw here would be an unhandled rejection.
        if (!(error instanceof Deno.errors.BadResource)) {
          log("net").debug("closing refused {peer} failed: {error}", {
            peer: conn.peer,
            error: (error as Error)?.message ?? String(error),
          });
        }
      }
    });
}

/**
 * One admitted connection: its transport, and the context its handler
 * gets, in one object. The drain signal is made only when someone asks
 * for it (or a drain begins), and `info` when first read.
 */
class Connection extends ConnTransport implements ConnectionContext {
  readonly acceptedAt: number = performance.now();
  readonly access: (record: AccessRecord) => void;
  readonly source: string;
  #conn: AcceptedConn;
  #draining: AbortController | undefined;
  #info: ConnectionInfo | undefined;

  constructor(
    conn: AcceptedConn,
    sendTimeoutMs: number,
    access: (record: AccessRecord) => void,
  ) {
    super(conn, sendTimeoutMs);
    this.#conn = conn;
    this.source = conn.source;
    this.access = access;
  }

  /** A plain object (models post it to workers), made once. */
  get info(): ConnectionInfo {
    return this.#info ??= { peer: this.#conn.peer, local: this.#conn.local };
  }

  get draining(): AbortSignal {
    return (this.#draining ??= new AbortController()).signal;
  }

  /** Tells the handler to finish. */
  drain(): void {
    (this.#draining ??= new AbortController()).abort();
  }
}

/** Serves one listener until stopped. */
export class Acceptor {
  #listener: AcceptSource;
  #options: AcceptorOptions;
  #drainStarted = false;
  // A drain signal per connection (made when first asked for): thousands of
  // listeners on one shared signal make every addEventListener a linear
  // scan (O(n^2) accepts).
  #open = new Set<Connection>();
  /** Connections too fresh to drain yet, while a drain waits for them. */
  #fresh: Connection[] = [];
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #loopDone: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  #slotFreed: (() => void) | undefined;
  #stopped = false;
  #logger = log("net");
  #metrics: Metrics;
  #openKey: string;
  #totalKey: string;
  #label: string;

  constructor(listener: AcceptSource, options: AcceptorOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#metrics = options.metrics ?? isolateMetrics;
    this.#label = options.label ?? options.protocol.name;
    const labels = { listener: this.#label, protocol: options.protocol.name };
    this.#openKey = seriesKey("koan_connections_open", labels);
    this.#totalKey = seriesKey("koan_connections_total", labels);
  }

  // Counters looked up once (per status or outcome seen), not per request:
  // #record runs for every HTTP request.
  #fixedCells:
    | { in: Counter; out: Counter; duration: Histogram }
    | undefined;
  /** Made at its first count, so HTTP listeners never export it. */
  #answeredCell: Counter | undefined;
  #statusCells = new Map<number, Counter>();
  /** The status counted last, and its counter: most answers repeat it. */
  #lastStatus = -1;
  #lastStatusCell: Counter | undefined;
  #outcomeCells = new Map<string, Counter>();

  #seriesFor(name: string, labels: Record<string, string> = {}): string {
    return seriesKey(name, {
      protocol: this.#options.protocol.name,
      ...labels,
    });
  }

  #fixed() {
    const m = this.#metrics;
    return this.#fixedCells ??= {
      in: m.counter(this.#seriesFor("koan_received_bytes_total")),
      out: m.counter(this.#seriesFor("koan_sent_bytes_total")),
      duration: m.histogram(this.#seriesFor("koan_request_duration_seconds")),
    };
  }

  #statusCell(status: number): Counter {
    if (status === this.#lastStatus) return this.#lastStatusCell!;
    let cell = this.#statusCells.get(status);
    if (cell === undefined) {
      cell = this.#metrics.counter(
        this.#seriesFor("koan_requests_total", { status: String(status) }),
      );
      this.#statusCells.set(status, cell);
    }
    this.#lastStatus = status;
    this.#lastStatusCell = cell;
    return cell;
  }

  /** Counts one access record: requests, bytes, duration, outcome. */
  #record = (record: AccessRecord): void => {
    // Status (or outcome) first: series are exported in the order made.
    const status = record.status;
    if (status !== undefined) {
      this.#statusCell(status).inc();
    } else {
      if (record.requests) {
        (this.#answeredCell ??= this.#metrics.counter(
          this.#seriesFor("koan_requests_total", { status: "answered" }),
        )).inc(record.requests);
      }
      let cell = this.#outcomeCells.get(record.outcome);
      if (cell === undefined) {
        cell = this.#metrics.counter(
          this.#seriesFor("koan_connections_closed_total", {
            outcome: record.outcome,
          }),
        );
        this.#outcomeCells.set(record.outcome, cell);
      }
      cell.inc();
    }
    const cells = this.#fixed();
    cells.in.inc(record.bytesIn);
    cells.out.inc(record.bytesOut);
    cells.duration.observe(record.durationMs / 1000);
    this.#options.access(record);
  };

  /** Connections being served now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Accepts until {@linkcode stop}; resolves when the loop has ended. */
  run(): Promise<void> {
    this.#loopDone = this.#loop();
    return this.#loopDone;
  }

  async #loop(): Promise<void> {
    let backoffMs = 0;
    let failures = 0;
    const concurrency = this.#options.concurrency;
    while (!this.#stopped) {
      if (concurrency > 0 && this.#open.size >= concurrency) {
        // Leave further clients in the kernel's backlog: this is what a
        // blocking pool (or an iterative server) really does.
        await new Promise<void>((resolve) => this.#slotFreed = resolve);
        continue;
      }
      let conn: AcceptedConn;
      try {
        conn = await this.#listener.accept();
        if (failures > 0) {
          this.#logger.info("accept recovered after {failures} failed tries", {
            failures,
          });
        }
        backoffMs = 0;
        failures = 0;
      } catch (error) {
        if (this.#stopped || error instanceof Deno.errors.BadResource) break;
        // EMFILE/ENFILE and friends: the pending connection stays queued;
        // wait for descriptors to free instead of spinning on accept().
        // One line per episode, not one per retry.
        if (failures++ === 0) {
          this.#logger.warn(
            "accept failed: {error}; retrying with backoff up to 1 s",
            { error: (error as Error).message },
          );
        }
        backoffMs = Math.min(1000, backoffMs ? backoffMs * 2 : 10);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        continue;
      }
      this.#admit(conn);
      if (concurrency === 1) {
        // Iterative: serve to the end before accepting again.
        while (this.#open.size > 0 && !this.#stopped) {
          await new Promise<void>((resolve) => this.#slotFreed = resolve);
        }
      }
    }
  }

  #admit(conn: AcceptedConn): void {
    const refusal = this.#options.limiter.admit(conn.source);
    if (refusal) {
      this.#options.onRefused?.(refusal);
      this.#metrics.inc(
        seriesKey("koan_connections_refused_total", {
          listener: this.#label,
          reason: refusal,
        }),
      );
      this.#refuse(conn, refusal);
      return;
    }
    const connection = new Connection(
      conn,
      this.#options.sendTimeoutMs(),
      this.#record,
    );
    this.#open.add(connection);
    // Handed over by the source as it closed (one that waited for the
    // processes master's admission): a fresh connection like any other.
    if (this.#drainStarted) this.#drainWhenOld(connection);
    this.#metrics.inc(this.#totalKey);
    this.#metrics.add(this.#openKey, 1);
    this.#options.onConnection?.();
    // The handler's end lets the connection go: two callbacks, not a
    // suspended async frame (about 400 bytes) per open connection.
    let served: Promise<void>;
    try {
      served = this.#options.handler()(connection, connection);
    } catch (error) {
      served = Promise.reject(error);
    }
    served.then(
      () => this.#release(connection),
      (error) => {
        this.#logger.error("handler failed: {error}", {
          error: (error as Error)?.stack ?? String(error),
        });
        this.#release(connection);
      },
    );
  }

  #release(connection: Connection): void {
    connection.close();
    this.#open.delete(connection);
    this.#metrics.add(this.#openKey, -1);
    this.#options.limiter.release(connection.source);
    this.#slotFreed?.();
    this.#slotFreed = undefined;
    if (this.#open.size === 0) this.#idle?.();
  }

  #refuse(conn: AcceptedConn, reason: string): void {
    refuseConnection(conn, reason, this.#options.protocol.busyReply);
  }

  /** Stops accepting and closes the listening socket. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    // Connections the source accepted but has not handed over yet are
    // clients already in flight: serve them rather than drop them.
    for (const conn of this.#listener.takePending?.() ?? []) {
      this.#admit(conn);
    }
    this.#listener.close();
    this.#slotFreed?.();
  }

  /**
   * Stops accepting, tells handlers to finish (idle connections close at
   * once), and resolves when every connection is done or `timeoutMs` has
   * passed, when the rest are closed. Resolves to the number forced.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.stop();
    this.#drainStarted = true;
    // Let the loop take what the source still hands over, briefly.
    if (this.#loopDone) {
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#loopDone,
        new Promise((resolve) =>
          wait = setTimeout(resolve, Math.min(timeoutMs, FRESH_GRACE_MS))
        ),
      ]);
      clearTimeout(wait);
    }
    for (const connection of this.#open) this.#drainWhenOld(connection);
    if (this.#open.size === 0) return 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<void>((resolve) => this.#idle = resolve);
    const timeout = new Promise<void>((resolve) =>
      timer = setTimeout(resolve, timeoutMs)
    );
    await Promise.race([idle, timeout]);
    clearTimeout(timer);
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#fresh = [];
    const forced = this.#open.size;
    this.closeAll();
    return forced;
  }

  /**
   * Drains `connection` now, or once it is {@linkcode FRESH_GRACE_MS} old:
   * the fresh ones wait in accept order under one timer, not one each.
   */
  #drainWhenOld(connection: Connection): void {
    if (performance.now() - connection.acceptedAt >= FRESH_GRACE_MS) {
      connection.drain();
      return;
    }
    this.#fresh.push(connection);
    this.#graceTimer ??= setTimeout(
      () => this.#drainFresh(),
      connection.acceptedAt + FRESH_GRACE_MS - performance.now(),
    );
  }

  #drainFresh(): void {
    this.#graceTimer = undefined;
    const now = performance.now();
    let done = 0;
    for (const connection of this.#fresh) {
      const wait = connection.acceptedAt + FRESH_GRACE_MS - now;
      if (wait > 0) {
        this.#graceTimer = setTimeout(() => this.#drainFresh(), wait);
        break;
      }
      connection.drain();
      done++;
    }
    this.#fresh.splice(0, done);
  }

  /** Closes every open connection now. */
  closeAll(): void {
    for (const connection of this.#open) connection.close();
  }
}
