/**
 * One HTTP connection: read, parse every complete request in the buffer,
 * queue each response, and write the queue in one go when the buffer runs
 * dry (responses to a pipelined batch leave in one write: the TCP_CORK
 * effect). Keep-alive, HEAD, bodies (Content-Length and chunked, with
 * `100 Continue`), the header and keep-alive timeouts, graceful drain and
 * one access record per request all live here.
 *
 * Timeouts: a new connection and a request whose head has begun have
 * `header_timeout` to complete the head (then 408 and close); each read
 * of a body has `header_timeout` too; an idle keep-alive connection is
 * closed silently after `keepalive_timeout`; a `keepalive_timeout` of 0
 * (which only a model sets, never a config file) answers every request
 * with `Connection: close` and closes after it. While draining, idle
 * keep-alive connections close at once, one accepted just before the
 * drain gets a second to send its request, and the request in flight is
 * answered with `Connection: close`.
 *
 * Two things per request before it is routed: from a trusted proxy
 * (`ConnectionInfo.trustedProxy`), the client its forwarding headers name
 * (`forwarded.ts`), which the access log and the request rate see (never
 * the admin routes' loopback check, which stays on the socket's peer);
 * then, with `[http] request_rate` on, a token for that client
 * (`../request_rate.ts`), or `429 Too Many Requests` with `Retry-After`
 * and the connection kept.
 *
 * @module
 */
import {
  type AccessRecord,
  type ConnectionContext,
  isConnectionError,
  type Transport,
} from "../contract.ts";
import { type Deadline, deadlines } from "../../util/deadline.ts";
import { tickNow } from "./_tick_clock.ts";
import { type BodySink, ChunkedDecoder } from "./chunked.ts";
import type { FileSource } from "./file_source.ts";
import { type ForwardedClient, forwardedClient } from "./forwarded.ts";
import { isLoopbackPeer } from "./loopback.ts";
import {
  type BucketLimit,
  limitedCounter,
  peerAddress,
  type RequestGate,
  requestGate,
} from "../request_rate.ts";
import type { ParserLimits } from "./parser.ts";
import { RequestParser } from "./parser.ts";
import { type Reply, textReply } from "./reply.ts";
import type { HttpEnv } from "./settings.ts";
import type { HttpRequest } from "./request.ts";
import type { RouteContext, RouteTable } from "./route.ts";
import { dispatch, type DispatchOptions } from "./routes.ts";
import { HttpError } from "./status.ts";
import {
  type Banner,
  type ConnectionHeader,
  errorBytes,
  errorPage,
  type HeadOptions,
  OutBuffer,
  tailIndex,
  writeError,
  writeHead,
} from "./writer.ts";

/** Settings one connection runs with (read from the config per connection). */
export interface ConnectionSettings {
  /** Parser limits. */
  limits: ParserLimits;
  /** `http.header_timeout` in ms. */
  headerTimeoutMs: number;
  /**
   * `http.keepalive_timeout` in ms; 0: no keep-alive (every answer says
   * `Connection: close`).
   */
  keepaliveTimeoutMs: number;
  /** The Server and nosniff lines (`http.server_tokens`). */
  banner: Banner;
  /** The route table. */
  routes: RouteTable;
  /** The document root, if any. */
  files: FileSource | undefined;
  /** Request headers the access log prints, captured per request. @default {[]} */
  accessHeaders?: readonly string[];
  /** `[http] request_rate`'s bucket; absent when the limit is off. */
  requestLimit?: BucketLimit;
}

/** What a pending read waits for. */
const NOT_WAITING = 0;
/** A new connection: nothing received yet (header timeout; a short grace on drain). */
const FRESH = 1;
/** Between keep-alive requests (keep-alive timeout, closes on drain). */
const IDLE = 2;
/** The rest of a head that has begun (header timeout). */
const HEAD = 3;
/** More of a body (header timeout per read). */
const BODY = 4;

/** How long a connection accepted just before a drain may take to send its request. */
const FRESH_DRAIN_GRACE_MS = 1000;
/** Responses queued past this are written without waiting for the batch to end. */
const FLUSH_AT = 64 * 1024;
/** Files up to this size go out with the head in one write; bigger ones stream. */
const CHUNK = 64 * 1024;
/**
 * Read buffer per connection to start with (nginx's default header buffer
 * is 1 KiB): it holds a typical browser head or a deep pipeline of small
 * requests, and grows only for a long head, up to the parser's limits.
 */
const INITIAL_BUFFER = 4 * 1024;

const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const EMPTY = new Uint8Array(0);
const NO_HEADERS: readonly string[] = [];
/** The request line's version, for the access log's `$request`. */
const VERSIONS = ["HTTP/1.0", "HTTP/1.1"];

/** An access record's `fields` for a request. */
type RequestFields = Readonly<{ method: string; target: string }>;

/** The exchange cannot go on (peer gone, timeout, file shrank); close without a reply. */
class Gone extends Error {
  /** The status to log. */
  readonly status: number;
  constructor(status: number, outcome: string) {
    super(outcome);
    this.status = status;
  }
}

/** Collects a body up to the size already checked against max_body. */
class Collector implements BodySink {
  bytes: Uint8Array;
  length = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  data(buf: Uint8Array, start: number, end: number): void {
    const need = this.length + end - start;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(buf.subarray(start, end), this.length);
    this.length = need;
  }
}

const DISCARD: BodySink = { data() {} };

/**
 * Serves one connection; see the module doc. Also the {@linkcode RouteContext}
 * its routes get, so reading a body needs no per-request object.
 */
export class HttpConnection implements RouteContext {
  readonly env: HttpEnv;
  #transport: Transport;
  #context: ConnectionContext;
  #settings: ConnectionSettings;
  #dispatch: DispatchOptions;
  #parser: RequestParser;
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  #maxBuffer: number;
  #out = new OutBuffer(4096);
  #head: HeadOptions;
  /** Where this generation's banner keeps its arrays in a preset. */
  #presetBase: number;
  /** Whether a connection may stay open after an answer (keepalive_timeout > 0). */
  #keepAlive: boolean;
  /** Whether the peer is on loopback, once asked. */
  #loopback: boolean | undefined;
  /** Whether the socket's peer is a trusted proxy (forwarding headers are read). */
  #proxied: boolean;
  /** The client the current request's forwarding headers name (trusted proxy only). */
  #client: ForwardedClient | undefined;
  /** The peer's address, once asked (the request rate's key). */
  #peerAddress: string | undefined;
  /** Where requests are counted when `request_rate` is on. */
  #gate: RequestGate | undefined;
  /** Bytes of the 408 sent on a timeout, for its access record. */
  #timeoutSent = 0;
  #deadline: Deadline;
  /** Whether the deadline is armed; it is re-armed lazily (see #expire). */
  #armed = false;
  /** The shorter of the two timeouts: no wait may end sooner. */
  #minTimeoutMs: number;
  #waiting = NOT_WAITING;
  #timedOut = NOT_WAITING;
  #draining = false;
  #drainAt = 0;
  /** When the first byte of the current head arrived (or the connection opened). */
  #headAt: number;
  /** When the last read completed. */
  #readAt: number;
  /** When the last read or write completed: where an idle wait starts. */
  #lastAt: number;
  /**
   * Access records of responses queued but not yet written; a counted
   * array, since truncating one (`length = 0`) costs more than the record.
   */
  #pending: (AccessRecord | undefined)[] = [];
  #pendingCount = 0;
  #request: HttpRequest | undefined;
  /** The current request's headers for the access log (only those it prints). */
  #requestHeaders: AccessRecord["headers"];
  /** Whether the access log prints request headers (the parser captures them). */
  #capturing: boolean;
  #lastFields: RequestFields | undefined;
  #requestAt = 0;
  #bodyPending = false;
  #bodyBytes = 0;
  #continueSent = false;
  #decoder: ChunkedDecoder | undefined;
  #onDrain = () => {
    this.#draining = true;
    this.#drainAt = tickNow();
    if (this.#waiting === IDLE) this.#transport.close();
    else if (this.#waiting === FRESH) {
      // Just accepted: its request is likely on the way. Give it a moment
      // rather than reset a client that did nothing wrong.
      this.#armed = true;
      this.#deadline.arm(FRESH_DRAIN_GRACE_MS);
    }
  };

  constructor(
    options: {
      transport: Transport;
      context: ConnectionContext;
      env: HttpEnv;
      settings: ConnectionSettings;
    },
  ) {
    this.#transport = options.transport;
    this.#context = options.context;
    this.env = options.env;
    this.#settings = options.settings;
    this.#dispatch = {
      routes: options.settings.routes,
      files: options.settings.files,
      context: this,
    };
    const { limits } = options.settings;
    const accessHeaders = options.settings.accessHeaders ?? NO_HEADERS;
    this.#parser = new RequestParser(limits, accessHeaders);
    this.#capturing = accessHeaders.length > 0;
    this.#maxBuffer = limits.maxRequestLine + limits.maxHeaderBytes + 64;
    this.#deadline = deadlines.create(() => this.#expire());
    const { banner, headerTimeoutMs, keepaliveTimeoutMs } = options.settings;
    this.#head = { contentLength: 0, connection: "none", now: 0, banner };
    this.#presetBase = banner.presetBase;
    this.#keepAlive = keepaliveTimeoutMs > 0;
    // Without keep-alive no connection idles: only the header timeout counts.
    this.#minTimeoutMs = this.#keepAlive
      ? Math.min(headerTimeoutMs, keepaliveTimeoutMs)
      : headerTimeoutMs;
    this.#headAt = this.#readAt = this.#lastAt = tickNow();
    this.#proxied = options.context.info.trustedProxy === true;
    this.#gate = options.settings.requestLimit === undefined
      ? undefined
      : requestGate("http");
  }

  /** {@inheritDoc RouteContext.fromLoopback} */
  get fromLoopback(): boolean {
    return this.#loopback ??= isLoopbackPeer(this.#context.info.peer);
  }

  /** Serves requests until the connection ends; never rejects. */
  async serve(): Promise<void> {
    const draining = this.#context.draining;
    this.#draining = draining.aborted;
    draining.addEventListener("abort", this.#onDrain);
    try {
      await this.#loop();
    } catch (error) {
      await this.#fail(error);
    } finally {
      draining.removeEventListener("abort", this.#onDrain);
      this.#deadline.dispose();
      this.#transport.close();
    }
  }

  /**
   * The hot path: serve every complete request buffered, write the batch's
   * responses in one write, read more. Kept free of extra async frames.
   */
  async #loop(): Promise<void> {
    const parser = this.#parser;
    const out = this.#out;
    let served = false;
    for (;;) {
      while (this.#end > this.#start) {
        // The first head's clock started at accept; later ones at their first byte.
        if (!parser.begun && served) this.#headAt = this.#readAt;
        this.#start = parser.skipBlankLines(this.#buf, this.#start, this.#end);
        const length = parser.scan(this.#buf, this.#start, this.#end);
        if (length < 0) break;
        this.#requestAt = this.#headAt;
        if (this.#proxied) this.#client = undefined;
        const request = parser.parse(this.#buf, this.#start, length);
        if (this.#capturing) this.#requestHeaders = parser.captured();
        if (this.#proxied) this.#forwarded(length);
        this.#start += length;
        served = true;
        let keep = this.#serveRequest(request);
        if (keep !== true && keep !== false) keep = await keep;
        if (!keep) {
          await this.#flush();
          return;
        }
      }
      if (out.length > 0) {
        const bytes = out.view();
        try {
          await this.#transport.write(bytes);
        } catch (error) {
          // The peer is gone; a bug goes to #fail (500) and the acceptor's log.
          if (!isConnectionError(error)) throw error;
          this.#unsent();
          return;
        }
        this.#sent();
      }
      const kind = parser.begun ? HEAD : served ? IDLE : FRESH;
      if (!this.#beforeRead(kind)) return this.#ended(kind);
      const into = this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end);
      // Not #read(): one async frame and one promise fewer per request.
      let n: number | null;
      try {
        n = await this.#transport.read(into);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        n = null;
      }
      if (!this.#afterRead(n)) return this.#ended(kind);
    }
  }

  /** The connection ended while waiting for `kind`; log what that means. */
  #ended(kind: number): void {
    if (this.#timedOut === IDLE || kind === IDLE) return;
    if (this.#timedOut !== NOT_WAITING) {
      this.#record(
        408,
        this.#timeoutSent,
        "header timeout",
        undefined,
        REQUEST_TIMEOUT_BODY,
      );
    } else if (kind === HEAD) {
      // nginx logs this as 400 too: bytes came, no request did.
      this.#record(400, 0, "sent a partial request then closed");
    }
    this.#emit(tickNow(), true);
  }

  /** Reads the client the head of `length` bytes at `#start` names (a trusted proxy's). */
  #forwarded(length: number): void {
    const info = this.#context.info;
    this.#client = forwardedClient(this.#buf, {
      start: this.#start,
      end: this.#start + length,
      // Without the listener's set, only the peer itself is trusted.
      trusted: info.trusted ?? NOBODY,
    });
  }

  /** The current request's client address: the forwarded one, else the peer's. */
  #clientAddress(): string {
    return this.#client?.address ??
      (this.#peerAddress ??= peerAddress(this.#context.info.peer));
  }

  /**
   * Counts one request against `request_rate` (when on), then routes it
   * and queues the answer; resolves to whether the connection stays open.
   * Synchronous when the count and the route are (hello, healthz).
   */
  #serveRequest(request: HttpRequest): boolean | Promise<boolean> {
    this.#request = request;
    this.#bodyPending = request.hasBody;
    this.#bodyBytes = 0;
    this.#continueSent = false;
    this.#decoder = request.chunked
      ? new ChunkedDecoder({
        maxBody: this.#settings.limits.maxBody,
        maxTrailer: this.#settings.limits.maxHeaderBytes,
      })
      : undefined;
    const gate = this.#gate;
    if (gate !== undefined) {
      const wait = gate.take(
        this.#clientAddress(),
        this.#settings.requestLimit!,
      );
      if (typeof wait !== "number") {
        return wait.then((seconds) => this.#route(request, seconds));
      }
      if (wait > 0) return this.#route(request, wait);
    }
    return this.#route(request, 0);
  }

  /** Routes `request`, or answers 429 when it must wait `wait` seconds. */
  #route(request: HttpRequest, wait: number): boolean | Promise<boolean> {
    let reply: Reply | Promise<Reply>;
    if (wait > 0) {
      limitedCounter("http").inc();
      reply = tooManyRequests(wait);
    } else {
      reply = dispatch(request, this.#dispatch);
    }
    if (
      reply instanceof Promise || this.#bodyPending || reply.file !== undefined
    ) return this.#serveSlowly(request, reply);
    const keep = this.#keep(request, reply);
    return this.#done(
      request,
      reply,
      keep,
      this.#queue(request, reply, this.#connection(request, keep)),
    );
  }

  /** The general path: an async route, a body to drain, a file to send. */
  async #serveSlowly(
    request: HttpRequest,
    pending: Reply | Promise<Reply>,
  ): Promise<boolean> {
    const reply = await pending;
    let keep = this.#keep(request, reply);
    if (this.#bodyPending) {
      // A client waiting for 100 Continue may never send the body.
      if (request.expectContinue && !this.#continueSent) keep = false;
      else if (keep) await this.#readBody(DISCARD);
    }
    const connection = this.#connection(request, keep);
    const sent = reply.file === undefined
      ? this.#queue(request, reply, connection)
      : await this.#queueFile(request, reply, connection);
    return this.#done(request, reply, keep, sent);
  }

  #keep(request: HttpRequest, reply: Reply): boolean {
    return request.keepAlive && this.#keepAlive && reply.close !== true &&
      (reply.status < 400 || reply.status === 429) && !this.#draining;
  }

  #connection(request: HttpRequest, keep: boolean): ConnectionHeader {
    return !keep ? "close" : request.minor === 0 ? "keep-alive" : "none";
  }

  /** Records the answer to `request`; flushes a very long batch early. */
  #done(
    request: HttpRequest,
    reply: Reply,
    keep: boolean,
    sent: number,
  ): boolean | Promise<boolean> {
    this.#record(
      reply.status,
      sent,
      keep
        ? "keep-alive"
        : this.#draining && request.keepAlive
        ? "draining"
        : "closed normally",
      undefined,
      request.method === "HEAD" || reply.status === 204 || reply.status === 304
        ? 0
        : reply.file?.length ?? reply.body?.length ?? 0,
    );
    this.#request = undefined;
    this.#requestHeaders = undefined;
    this.#bodyBytes = 0;
    if (keep && this.#out.length > FLUSH_AT) return this.#flush();
    return keep;
  }

  #prepareHead(reply: Reply, connection: ConnectionHeader): HeadOptions {
    const head = this.#head;
    head.fixed = reply.fixed;
    head.extra = reply.extra;
    head.connection = connection;
    head.now = this.#readAt;
    return head;
  }

  /** Appends an in-memory reply; returns the bytes queued. */
  #queue(
    request: HttpRequest,
    reply: Reply,
    connection: ConnectionHeader,
  ): number {
    const out = this.#out;
    const before = out.length;
    const preset = reply.preset;
    if (preset !== undefined) {
      out.putShared(
        preset.get(
          this.#presetBase + tailIndex(connection, request.method === "HEAD"),
          this.#readAt,
        ),
      );
      return out.length - before;
    }
    const head = this.#prepareHead(reply, connection);
    const bodiless = reply.status === 204 || reply.status === 304;
    head.contentLength = bodiless ? -1 : reply.body?.length ?? 0;
    writeHead(out, reply.status, head);
    if (!bodiless && request.method !== "HEAD" && reply.body !== undefined) {
      out.put(reply.body);
    }
    return out.length - before;
  }

  /** Appends a file reply, streaming it in chunks; returns the bytes sent. */
  async #queueFile(
    request: HttpRequest,
    reply: Reply,
    connection: ConnectionHeader,
  ): Promise<number> {
    const file = reply.file!;
    const out = this.#out;
    const before = out.length;
    const head = this.#prepareHead(reply, connection);
    head.contentLength = file.length;
    if (request.method === "HEAD" || file.length === 0) {
      writeHead(out, reply.status, head);
      return out.length - before;
    }
    const reader = await file.entry.open();
    if (reader === null) throw new HttpError(404, "File cannot be opened");
    let sent = 0;
    let mark = before;
    try {
      writeHead(out, reply.status, head);
      let position = file.start;
      let left = file.length;
      while (left > 0) {
        // Reads land in the output buffer: the head and a small file (or a
        // big one's first chunk) leave together in one write.
        const room = Math.min(left, CHUNK);
        out.ensure(room);
        const n = await reader.read(
          out.bytes.subarray(out.length, out.length + room),
          position,
        );
        if (n === null || n === 0) {
          this.#out.length = 0; // the framing is lost: send nothing more
          this.#emit(tickNow(), false);
          throw new Gone(reply.status, "file shrank while being sent");
        }
        out.length += n;
        position += n;
        left -= n;
        if (left > 0) {
          sent += out.length - mark;
          mark = 0;
          if (!await this.#flush()) {
            throw new Gone(reply.status, "closed before the answer was sent");
          }
        }
      }
    } finally {
      reader.close();
    }
    return sent + out.length - mark;
  }

  /**
   * Queues the access record for a response; written once the bytes are.
   * `bodyBytes`: the part of `bytesOut` after the head (`$body_bytes_sent`).
   */
  #record(
    status: number,
    bytesOut: number,
    outcome: string,
    refused?: HttpError,
    bodyBytes = 0,
  ): void {
    const request = this.#request;
    this.#pending[this.#pendingCount++] = {
      protocol: "http",
      peer: this.#client?.peer ?? this.#context.info.peer,
      fields: this.#fields(
        request?.method ?? refused?.method ?? "-",
        request?.target ?? refused?.target ?? "-",
      ),
      version: request ? VERSIONS[request.minor] : undefined,
      status,
      bytesIn: (request?.headBytes ?? 0) + this.#bodyBytes,
      bytesOut,
      bodyBytes,
      headers: request ? this.#requestHeaders : undefined,
      // Holds the start time until #emit turns it into a duration.
      durationMs: request ? this.#requestAt : this.#headAt,
      outcome,
    };
  }

  /**
   * A record's `fields`: the last record's when the request line is the
   * same (a keep-alive client repeating itself), as records never change
   * them.
   */
  #fields(method: string, target: string): RequestFields {
    const last = this.#lastFields;
    if (
      last !== undefined && last.method === method && last.target === target
    ) {
      return last;
    }
    return this.#lastFields = { method, target };
  }

  /** Hands queued access records to the log; `written` false marks them unsent. */
  #emit(now: number, written: boolean): void {
    const pending = this.#pending;
    const count = this.#pendingCount;
    this.#pendingCount = 0;
    for (let i = 0; i < count; i++) {
      const record = pending[i]!;
      pending[i] = undefined;
      record.durationMs = now - record.durationMs;
      if (!written) {
        record.outcome = "closed before the answer was sent";
        record.bodyBytes = 0;
      }
      this.#context.access(record);
    }
  }

  /** After a successful write of the queue. */
  #sent(): void {
    const now = tickNow();
    this.#lastAt = now;
    this.#out.length = 0;
    if (this.#pendingCount > 0) this.#emit(now, true);
  }

  /** After a failed write of the queue. */
  #unsent(): void {
    this.#out.length = 0;
    this.#emit(tickNow(), false);
  }

  /** Writes the queued responses in one write; false when the peer is gone. */
  async #flush(): Promise<boolean> {
    if (this.#out.length === 0) {
      if (this.#pendingCount > 0) this.#emit(tickNow(), true);
      return true;
    }
    const bytes = this.#out.view();
    try {
      await this.#transport.write(bytes);
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      this.#unsent();
      return false;
    }
    this.#sent();
    return true;
  }

  /** Gets ready to wait for `kind`; false when the connection should end instead. */
  #beforeRead(kind: number): boolean {
    this.#out.clear();
    if (kind === IDLE && this.#draining) return false;
    this.#makeRoom();
    this.#waiting = kind;
    if (!this.#armed) {
      this.#armed = true;
      this.#deadline.arm(this.#minTimeoutMs);
    }
    return true;
  }

  /** Takes a read's result; false at the end of the stream or after a timeout. */
  #afterRead(n: number | null): boolean {
    this.#waiting = NOT_WAITING;
    if (n === null || this.#timedOut !== NOT_WAITING) return false;
    this.#end += n;
    this.#readAt = this.#lastAt = tickNow();
    return true;
  }

  /** Flushes, then reads more of a body into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (!await this.#flush()) return false;
    if (!this.#beforeRead(BODY)) return false;
    return this.#afterRead(await this.#read(this.#buf.subarray(this.#end)));
  }

  /** Reads into `into`; `null` at the end of the stream, however it came. */
  async #read(into: Uint8Array): Promise<number | null> {
    try {
      return await this.#transport.read(into);
    } catch (error) {
      // Reset, or closed here (a timeout, a drain): the end of the stream.
      if (!isConnectionError(error)) throw error;
      return null;
    }
  }

  /** Ensures free space after `#end`: reset, compact, or grow up to the head limit. */
  #makeRoom(): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      return;
    }
    if (this.#end < this.#buf.length) return;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      return;
    }
    // A head bigger than the buffer; the parser's limits bound the growth.
    if (this.#buf.length >= this.#maxBuffer) {
      // Unreachable while the parser enforces its limits; never spin on a
      // zero-length read if that ever changes.
      throw new HttpError(431, "Request head larger than the buffer");
    }
    const grown = new Uint8Array(
      Math.min(this.#maxBuffer, this.#buf.length * 2),
    );
    grown.set(this.#buf.subarray(0, this.#end));
    this.#buf = grown;
  }

  /**
   * The deadline fired. It is not re-armed per read (a clock read per
   * request is measurable): instead it stays armed, never for longer than
   * the shortest timeout, and when it fires it checks how long the current
   * wait has really lasted and re-arms for the rest. A wait past its limit
   * ends in 408 (a request was due) or a silent close (an idle keep-alive).
   */
  #expire(): void {
    const kind = this.#waiting;
    const settings = this.#settings;
    if (kind === NOT_WAITING) {
      // Busy serving; look again later.
      this.#deadline.arm(this.#minTimeoutMs);
      return;
    }
    const freshDraining = kind === FRESH && this.#draining;
    const due = kind === IDLE
      ? this.#lastAt + settings.keepaliveTimeoutMs
      : kind === BODY
      ? this.#lastAt + settings.headerTimeoutMs
      : freshDraining
      ? Math.min(
        this.#headAt + settings.headerTimeoutMs,
        this.#drainAt + FRESH_DRAIN_GRACE_MS,
      )
      : this.#headAt + settings.headerTimeoutMs;
    const left = due - tickNow();
    if (left > 0) {
      // Never later than the shortest limit: the wait may change meanwhile.
      this.#deadline.arm(Math.min(left, this.#minTimeoutMs));
      return;
    }
    this.#armed = false;
    if (kind === IDLE || freshDraining) {
      // Nothing was asked: close without a word.
      this.#timedOut = IDLE;
      this.#transport.close();
      return;
    }
    this.#timedOut = kind;
    // Nothing else writes while a read is pending: every batch is flushed
    // first. The 408 is a courtesy: any write error means the client has
    // gone, and the connection closes either way.
    const bytes = errorBytes(REQUEST_TIMEOUT, settings.banner);
    this.#timeoutSent = bytes.length;
    this.#transport.write(bytes).catch(() => {}).finally(() =>
      this.#transport.close()
    );
  }

  /** Reads the rest of the current body into `sink`. */
  async #readBody(sink: BodySink): Promise<void> {
    const request = this.#request!;
    this.#bodyPending = false;
    if (request.expectContinue && !this.#continueSent) {
      this.#continueSent = true;
      if (this.#end === this.#start) this.#out.put(CONTINUE);
    }
    const decoder = this.#decoder;
    let left = decoder ? Infinity : request.contentLength;
    for (;;) {
      if (decoder) {
        const used = decoder.push(this.#buf, this.#start, this.#end, sink);
        this.#start += used;
        this.#bodyBytes += used;
        if (decoder.done) return;
      } else {
        const take = Math.min(left, this.#end - this.#start);
        sink.data(this.#buf, this.#start, this.#start + take);
        this.#start += take;
        this.#bodyBytes += take;
        left -= take;
        if (left === 0) return;
      }
      if (!await this.#fill()) {
        throw new Gone(400, "sent a partial body then closed");
      }
    }
  }

  /** {@inheritDoc RouteContext.body} */
  async body(): Promise<Uint8Array> {
    const request = this.#request;
    if (request === undefined || !this.#bodyPending) return EMPTY;
    const collector = new Collector(
      request.chunked ? 1024 : request.contentLength,
    );
    await this.#readBody(collector);
    return collector.bytes.subarray(0, collector.length);
  }

  /** Answers an error (if the connection still can) and records it. */
  async #fail(error: unknown): Promise<void> {
    if (error instanceof Gone) {
      if (this.#timedOut !== NOT_WAITING) {
        this.#record(
          408,
          this.#timeoutSent,
          "body timeout",
          undefined,
          REQUEST_TIMEOUT_BODY,
        );
      } else {
        this.#record(error.status, 0, error.message);
      }
      this.#emit(tickNow(), true);
      return;
    }
    const httpError = error instanceof HttpError
      ? error
      : new HttpError(500, "Internal error");
    const outcome = error instanceof HttpError
      ? error.message
      : `error: ${(error as Error)?.message ?? String(error)}`;
    const request = this.#request;
    if (this.#bodyPending && !(request?.expectContinue ?? false)) {
      // Read the unread body first (it is within max_body) so that closing
      // does not reset the connection under the client before it reads the
      // error (the lingering-close problem).
      try {
        await this.#readBody(DISCARD);
      } catch (bodyError) {
        if (bodyError instanceof Gone) return;
      }
    }
    const before = this.#out.length;
    const sent = writeError(this.#out, httpError, {
      head: request?.method === "HEAD",
      banner: this.#settings.banner,
    });
    this.#record(
      httpError.status,
      sent,
      outcome,
      httpError,
      bodyAfterHead(this.#out.bytes, before, before + sent),
    );
    await this.#flush();
  }
}

/** A trusted set with no one in it. */
const NOBODY = { has: () => false };

/** 429 replies by their Retry-After, made once each. */
const TOO_MANY = new Map<number, Reply>();

/**
 * `429 Too Many Requests` with `Retry-After`: the seconds until a token
 * is there, rounded up (at least 1). The connection stays open.
 */
function tooManyRequests(wait: number): Reply {
  const seconds = Math.max(1, Math.ceil(wait));
  let reply = TOO_MANY.get(seconds);
  if (reply === undefined) {
    reply = {
      ...textReply(429, errorPage(429)),
      extra: `Retry-After: ${seconds}\r\n`,
    };
    if (TOO_MANY.size < 64) TOO_MANY.set(seconds, reply);
  }
  return reply;
}

/** The 408 sent when a head or body does not arrive in time. */
const REQUEST_TIMEOUT = new HttpError(
  408,
  "The request did not arrive in time",
);

/** Bytes of `bytes[start, end)` after the head's blank line (a response's body). */
function bodyAfterHead(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i + 3 < end; i++) {
    if (
      bytes[i] === 0x0d && bytes[i + 1] === 0x0a && bytes[i + 2] === 0x0d &&
      bytes[i + 3] === 0x0a
    ) return end - i - 4;
  }
  return 0;
}

/** The body of the 408 (its fixed page). */
const REQUEST_TIMEOUT_BODY = errorPage(408).length;
