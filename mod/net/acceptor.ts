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
 * Between accept and handler, in wire order and each only when asked for
 * (the plain path stays synchronous and allocates nothing more):
 *
 * 1. the edge ({@linkcode AcceptorOptions.edge}): whether the socket's peer
 *    is a trusted proxy, and with `proxy_protocol` its PROXY header, read
 *    per connection without holding up the loop; the client it names is
 *    the connection's peer and source from then on;
 * 2. admission: a source wrapper's ({@linkcode AcceptorOptions.admission},
 *    the `processes` master's), then the limiter;
 * 3. the transport ({@linkcode AcceptorOptions.secure}: TLS).
 *
 * A connection in steps 1 to 3 holds a concurrency slot, and a drain
 * waits for it (and closes it at its deadline) like a served one.
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
  parseProxyHeader,
  PROXY_HEADER_MAX_BYTES,
  type ProxyAddress,
  type ProxyHeader,
} from "./proxy_header.ts";
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
  /**
   * The listener's edge settings, read per connection: trusted proxies and
   * the PROXY protocol. Absent, or undefined: neither.
   */
  edge?: () => EdgeSettings | undefined;
  /**
   * The transport to end on each admitted connection before its handler
   * (TLS), read per connection. Absent, or undefined: plain.
   */
  secure?: () => SecureWrap | undefined;
  /**
   * Admission by a source wrapper (the `processes` master, asked per
   * connection), applied after the edge, so that it sees the client a
   * PROXY header named: it wraps a source of connections that have
   * passed the edge, and yields those admitted.
   */
  admission?: (source: AcceptSource) => AcceptSource;
}

/** Addresses (`trusted_proxies`) a connection's source is looked up in. */
export interface AddressSet {
  /** Whether `address` (an IP, as {@linkcode AcceptedConn.source}) is in it. */
  has(address: string): boolean;
}

/** What the edge of a listener does with each connection; see {@linkcode AcceptorOptions.edge}. */
export interface EdgeSettings {
  /**
   * Expect a PROXY protocol header (v1 or v2) first, from trusted peers
   * only: any other peer, a malformed header, or none within
   * `headerTimeoutMs`, and the connection is closed.
   */
  proxyProtocol: boolean;
  /** Peers trusted as proxies; none when undefined. */
  trusted: AddressSet | undefined;
  /** How long a PROXY header may take. @default {PROXY_HEADER_TIMEOUT_MS} */
  headerTimeoutMs?: number;
}

/**
 * Ends a transport on an admitted connection (the TLS handshake) and
 * resolves to the connection to serve, or null when it failed (the wrap
 * has closed it). The connection's peer, source and trust are the ones it
 * was given, whatever the wrapped one says.
 */
export type SecureWrap = (conn: AcceptedConn) => Promise<AcceptedConn | null>;

/**
 * How long a trusted proxy may take to send its PROXY header, whatever the
 * protocol: proxies send it as they connect, before any client byte, so
 * this only bounds a broken or hostile one (nginx's `proxy_protocol_timeout`
 * is 30 s by default; HAProxy's `timeout client` applies there).
 */
export const PROXY_HEADER_TIMEOUT_MS = 5000;

/** Why a connection was closed at the edge, as `koan_proxy_refused_total` labels it. */
export type EdgeRefusal = "untrusted" | "malformed" | "timeout" | "closed";

/** An accepted connection, whichever API accepted it (`Deno.listen`, `node:net`). */
export interface AcceptedConn extends Duplex {
  /** Remote `host:port`. */
  readonly peer: string;
  /** Local `host:port`. */
  readonly local: string;
  /** Remote IP, the key for `max_per_source`. */
  readonly source: string;
  /** The socket's peer is a trusted proxy (see {@linkcode EdgeSettings}). */
  readonly trustedProxy?: boolean;
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
 * A connection whose socket peer is a trusted proxy: the client its PROXY
 * header named (if any) as peer and source, and the bytes read past the
 * header handed out first. Once they are, reads go straight to the socket.
 */
class EdgeConn implements AcceptedConn {
  readonly trustedProxy = true;
  /** The listener's trusted proxies, for HTTP's walk over X-Forwarded-For. */
  readonly trusted: AddressSet | undefined;
  #conn: AcceptedConn;
  #client: ProxyAddress | undefined;
  #rest: Uint8Array | undefined;

  constructor(
    conn: AcceptedConn,
    trusted: AddressSet | undefined,
    client?: ProxyAddress,
    rest?: Uint8Array,
  ) {
    this.trusted = trusted;
    this.#conn = conn;
    this.#client = client;
    this.#rest = rest;
  }

  get peer(): string {
    const client = this.#client;
    if (client === undefined) return this.#conn.peer;
    return client.address.includes(":")
      ? `[${client.address}]:${client.port}`
      : `${client.address}:${client.port}`;
  }

  get local(): string {
    return this.#conn.local;
  }

  get source(): string {
    return this.#client?.address ?? this.#conn.source;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    const rest = this.#rest;
    if (rest === undefined) return this.#conn.read(buffer);
    const n = Math.min(rest.length, buffer.length);
    buffer.set(rest.subarray(0, n));
    this.#rest = n < rest.length ? rest.subarray(n) : undefined;
    return Promise.resolve(n);
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    this.#conn.close();
  }
}

/** A PROXY header read, with the bytes that came after it; or why not. */
type HeaderRead =
  | { header: ProxyHeader; rest: Uint8Array | undefined }
  | {
    refusal: Exclude<EdgeRefusal, "untrusted">;
    detail: string;
    /** Closed before sending anything (a plain TCP health check): not worth a warning. */
    quiet?: boolean;
  };

/** Bytes asked for by the first read: a v1 line, or most v2 headers. */
const FIRST_READ = 256;

/**
 * Reads `conn`'s PROXY header within `timeoutMs` (then closes it), however
 * it arrives: what the reads bring past the header is handed back.
 */
async function readProxyHeader(
  conn: AcceptedConn,
  timeoutMs: number,
): Promise<HeaderRead> {
  let timedOut = false;
  const deadline = deadlines.create(() => {
    timedOut = true;
    closeQuietly(conn);
  });
  deadline.arm(timeoutMs);
  const late = (): HeaderRead => ({
    refusal: "timeout",
    detail: `no complete PROXY protocol header within ${timeoutMs / 1000} s`,
  });
  let buffer = new Uint8Array(FIRST_READ);
  let filled = 0;
  try {
    for (;;) {
      let parsed;
      try {
        parsed = parseProxyHeader(buffer.subarray(0, filled));
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        return { refusal: "malformed", detail: error.message };
      }
      if (parsed.done) {
        const { length } = parsed.header;
        return {
          header: parsed.header,
          rest: filled > length ? buffer.subarray(length, filled) : undefined,
        };
      }
      if (parsed.atLeast > buffer.length) {
        // A v2 header longer than the first read: its length is known
        // and bounded (PROXY_HEADER_MAX_BYTES) by now.
        const larger = new Uint8Array(
          Math.min(parsed.atLeast, PROXY_HEADER_MAX_BYTES),
        );
        larger.set(buffer.subarray(0, filled));
        buffer = larger;
      }
      let n: number | null;
      try {
        n = await conn.read(buffer.subarray(filled));
      } catch (error) {
        if (timedOut) return late();
        if (!isConnectionError(error)) throw error;
        n = null;
      }
      if (timedOut) return late();
      if (n === null) {
        return {
          refusal: "closed",
          detail:
            `closed after ${filled} bytes, before its PROXY protocol header was complete`,
          quiet: filled === 0,
        };
      }
      filled += n;
    }
  } finally {
    deadline.dispose();
  }
}

/** Closes `conn`, which may be closed already (a Deno.Conn then throws BadResource). */
function closeQuietly(conn: Duplex): void {
  try {
    conn.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/**
 * Feeds connections that passed the edge, in order, to an admission
 * wrapper (see {@linkcode AcceptorOptions.admission}), and notices the
 * ones it refuses: a wrapper that asks for the next connection without
 * having yielded the last one has refused it (and closed it).
 */
class AdmissionGate implements AcceptSource {
  #queue: AcceptedConn[] = [];
  #waiter:
    | { resolve: (conn: AcceptedConn) => void; reject: (error: Error) => void }
    | undefined;
  #held: AcceptedConn | undefined;
  #closed = false;
  #onRefused: (conn: AcceptedConn) => void;

  constructor(onRefused: (conn: AcceptedConn) => void) {
    this.#onRefused = onRefused;
  }

  push(conn: AcceptedConn): void {
    const waiter = this.#waiter;
    if (waiter === undefined) {
      this.#queue.push(conn);
      return;
    }
    this.#waiter = undefined;
    this.#held = conn;
    waiter.resolve(conn);
  }

  /** The wrapper yielded `conn`: it is admitted. */
  yielded(conn: AcceptedConn): void {
    if (this.#held === conn) this.#held = undefined;
  }

  accept(): Promise<AcceptedConn> {
    const refused = this.#held;
    this.#held = undefined;
    if (refused !== undefined) this.#onRefused(refused);
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#held = next;
      return Promise.resolve(next);
    }
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Admission closed"));
    }
    return new Promise((resolve, reject) => this.#waiter = { resolve, reject });
  }

  /** Ends the wrapper's accept loop once nothing is left to admit. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter?.reject(new Deno.errors.BadResource("Admission closed"));
    this.#waiter = undefined;
  }
}

/**
 * One admitted connection: its transport, and the context its handler
 * gets, in one object. The drain signal is made only when someone asks
 * for it (or a drain begins), and `info` when first read.
 */
class Connection extends ConnTransport implements ConnectionContext {
  readonly acceptedAt: number = performance.now();
  readonly source: string;
  /** Counts one access record, less the answers counted live. */
  #record: (record: AccessRecord, counted: number) => void;
  /** Counts answers as they complete. */
  #count: (count: number) => void;
  /** Answers counted through {@linkcode answered} so far. */
  #answered = 0;
  /** The connection as admitted: its peer, source and trust. */
  #conn: AcceptedConn;
  #draining: AbortController | undefined;
  #info: ConnectionInfo | undefined;

  /** Serves `wire` (`conn` itself, or the transport a wrap made of it). */
  constructor(
    conn: AcceptedConn,
    wire: Duplex,
    sendTimeoutMs: number,
    record: (record: AccessRecord, counted: number) => void,
    count: (count: number) => void,
  ) {
    super(wire, sendTimeoutMs);
    this.#conn = conn;
    this.source = conn.source;
    this.#record = record;
    this.#count = count;
  }

  access(record: AccessRecord): void {
    this.#record(record, this.#answered);
  }

  answered(count: number): void {
    this.#answered += count;
    this.#count(count);
  }

  /** A plain object (models post it to workers), made once. */
  get info(): ConnectionInfo {
    if (this.#info !== undefined) return this.#info;
    const conn = this.#conn;
    const info: ConnectionInfo = { peer: conn.peer, local: conn.local };
    if (conn.trustedProxy) {
      info.trustedProxy = true;
      // Not enumerable: the info is posted to workers and children (JSON
      // or structured clone), which cannot carry the set's methods. There
      // HTTP believes the nearest proxy's entry only (README, Known issues).
      const trusted = (conn as EdgeConn).trusted;
      if (trusted) {
        Object.defineProperty(info, "trusted", {
          value: trusted,
          enumerable: false,
        });
      }
    }
    return this.#info = info;
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
  /** Set once a drain has forced what was left: nothing more is served. */
  #ended = false;
  #logger = log("net");
  #metrics: Metrics;
  #openKey: string;
  #totalKey: string;
  #label: string;
  /**
   * Connections accepted and not yet served or dropped: reading a PROXY
   * header, waiting for admission, in a TLS handshake. Empty on the plain
   * path, which never waits between accept and handler.
   */
  #arriving = new Set<AcceptedConn>();
  #gate: AdmissionGate | undefined;
  #admitted: AcceptSource | undefined;
  /** Edge refusals logged in the current second, and those not logged. */
  #edgeLogged = 0;
  #edgeUnlogged = 0;
  #edgeWindow = -Infinity;

  constructor(listener: AcceptSource, options: AcceptorOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#metrics = options.metrics ?? isolateMetrics;
    this.#label = options.label ?? options.protocol.name;
    const labels = { listener: this.#label, protocol: options.protocol.name };
    this.#openKey = seriesKey("koan_connections_open", labels);
    this.#totalKey = seriesKey("koan_connections_total", labels);
    if (options.admission) {
      this.#gate = new AdmissionGate((conn) => {
        this.#arriving.delete(conn);
        this.#freed();
      });
      this.#admitted = options.admission(this.#gate);
    }
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

  /** Zen answers: counted as the session answers them (`Connection.answered`). */
  #answers = (count: number): void => {
    (this.#answeredCell ??= this.#metrics.counter(
      this.#seriesFor("koan_requests_total", { status: "answered" }),
    )).inc(count);
  };

  /**
   * Counts one access record: requests (less `counted`, those counted as
   * they were answered), bytes, duration, outcome.
   */
  #record = (record: AccessRecord, counted = 0): void => {
    // Status (or outcome) first: series are exported in the order made.
    const status = record.status;
    if (status !== undefined) {
      this.#statusCell(status).inc();
    } else {
      if (record.requests && record.requests > counted) {
        this.#answers(record.requests - counted);
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
    if (this.#admitted) void this.#admissionLoop(this.#admitted);
    this.#loopDone = this.#loop();
    return this.#loopDone;
  }

  /** Connections holding a slot: served, or on their way. */
  get #busy(): number {
    return this.#open.size + this.#arriving.size;
  }

  async #loop(): Promise<void> {
    let backoffMs = 0;
    let failures = 0;
    const concurrency = this.#options.concurrency;
    while (!this.#stopped) {
      if (concurrency > 0 && this.#busy >= concurrency) {
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
      this.#take(conn);
      if (concurrency === 1) {
        // Iterative: serve to the end before accepting again.
        while (this.#busy > 0 && !this.#stopped) {
          await new Promise<void>((resolve) => this.#slotFreed = resolve);
        }
      }
    }
  }

  /** Step 1, the edge: trust, and the PROXY header. */
  #take(conn: AcceptedConn): void {
    const edge = this.#options.edge?.();
    if (edge === undefined) {
      this.#pass(conn);
      return;
    }
    const trusted = edge.trusted?.has(conn.source) ?? false;
    if (!edge.proxyProtocol) {
      this.#pass(trusted ? new EdgeConn(conn, edge.trusted) : conn);
      return;
    }
    if (!trusted) {
      this.#refuseEdge(
        conn,
        "untrusted",
        "not in trusted_proxies, and the listener expects a PROXY protocol header",
      );
      return;
    }
    this.#arriving.add(conn);
    readProxyHeader(conn, edge.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS)
      .then(
        (read) => {
          this.#arriving.delete(conn);
          if ("refusal" in read) {
            this.#refuseEdge(conn, read.refusal, read.detail, read.quiet);
          } else {
            this.#pass(
              new EdgeConn(conn, edge.trusted, read.header.source, read.rest),
            );
          }
        },
        (error) => {
          // A read that failed in a way no connection error explains: a bug.
          this.#arriving.delete(conn);
          closeQuietly(conn);
          this.#logger.error("reading a PROXY header failed: {error}", {
            error: (error as Error)?.stack ?? String(error),
          });
        },
      )
      .finally(() => this.#freed());
  }

  /**
   * Closes a connection the edge refused: counted, and logged at warning
   * (at most 10 lines a second; `quiet`: at debug).
   */
  #refuseEdge(
    conn: AcceptedConn,
    reason: EdgeRefusal,
    detail: string,
    quiet = false,
  ): void {
    closeQuietly(conn);
    if (this.#ended) return; // closed by the drain's deadline, not refused
    this.#metrics.inc(
      seriesKey("koan_proxy_refused_total", { listener: this.#label, reason }),
    );
    if (quiet) {
      this.#logger.debug("refused {peer}: {reason}", {
        peer: conn.peer,
        reason: `${reason}: ${detail}`,
      });
      return;
    }
    const now = performance.now();
    if (now - this.#edgeWindow >= 1000) {
      if (this.#edgeUnlogged > 0) {
        this.#logger.warn(
          "{count} more connections refused at the edge were not logged",
          { count: this.#edgeUnlogged },
        );
      }
      this.#edgeWindow = now;
      this.#edgeLogged = 0;
      this.#edgeUnlogged = 0;
    }
    if (this.#edgeLogged >= 10) {
      this.#edgeUnlogged++;
      return;
    }
    this.#edgeLogged++;
    this.#logger.warn("refused {peer}: {reason}", {
      peer: conn.peer,
      reason: `${reason}: ${detail}`,
    });
  }

  /** Step 2, admission: through the wrapper if any, then the limiter. */
  #pass(conn: AcceptedConn): void {
    if (this.#gate === undefined) {
      this.#admit(conn);
      return;
    }
    this.#arriving.add(conn);
    this.#gate.push(conn);
  }

  /** Takes what the admission wrapper yields, until it closes. */
  async #admissionLoop(admitted: AcceptSource): Promise<void> {
    for (;;) {
      let conn: AcceptedConn;
      try {
        conn = await admitted.accept();
      } catch (error) {
        // The gate closed (BadResource): the acceptor has stopped.
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
      this.#gate!.yielded(conn);
      this.#arriving.delete(conn);
      this.#admit(conn);
      this.#freed();
    }
  }

  #admit(conn: AcceptedConn): void {
    if (this.#ended) {
      closeQuietly(conn);
      return;
    }
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
    const secure = this.#options.secure?.();
    if (secure === undefined) {
      this.#serve(conn, conn);
      return;
    }
    // Step 3, the transport.
    this.#arriving.add(conn);
    let wrapped: Promise<AcceptedConn | null>;
    try {
      wrapped = secure(conn);
    } catch (error) {
      wrapped = Promise.reject(error);
    }
    wrapped.then(
      (wire) => {
        this.#arriving.delete(conn);
        if (wire !== null && !this.#ended) {
          this.#serve(conn, wire);
          return;
        }
        closeQuietly(wire ?? conn);
        this.#options.limiter.release(conn.source);
      },
      (error) => {
        this.#arriving.delete(conn);
        closeQuietly(conn);
        this.#options.limiter.release(conn.source);
        this.#logger.error("securing {peer} failed: {error}", {
          peer: conn.peer,
          error: (error as Error)?.stack ?? String(error),
        });
      },
    ).finally(() => this.#freed());
  }

  /** Hands an admitted connection, read and written through `wire`, to the handler. */
  #serve(conn: AcceptedConn, wire: Duplex): void {
    const connection = new Connection(
      conn,
      wire,
      this.#options.sendTimeoutMs(),
      this.#record,
      this.#answers,
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
    this.#freed();
  }

  /** A slot came free: wake the loop, and a drain once nothing is left. */
  #freed(): void {
    this.#slotFreed?.();
    this.#slotFreed = undefined;
    if (this.#busy > 0) return;
    this.#idle?.();
    // Stopped with nothing on its way: the admission wrapper's loop ends.
    if (this.#stopped) this.#gate?.close();
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
      this.#take(conn);
    }
    this.#listener.close();
    this.#freed();
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
    if (this.#busy === 0) return 0;
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
    const forced = this.#busy;
    this.#ended = forced > 0;
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

  /** Closes every open connection now, and those still on their way. */
  closeAll(): void {
    for (const connection of this.#open) connection.close();
    for (const conn of this.#arriving) closeQuietly(conn);
  }
}
