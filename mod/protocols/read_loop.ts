/**
 * The read loop Zen and echo share: read with an idle deadline, hand the
 * bytes to the protocol's {@linkcode Session}, write what it answers, and
 * end with the seeds' outcomes ("closed normally", "sent a partial
 * question then closed", "idle timeout", "draining", ...) in one access
 * record per connection. Draining closes an idle connection at once (at
 * the deadline wheel's next sweep) and a busy one after its answers.
 *
 * Built for many mostly idle connections: one object per connection holds
 * the loop's state and is its deadline (no closures, no `abort` listener),
 * and a connection owns only a small read buffer ({@linkcode READ_SIZE}, cut
 * from a shared slab). A read that fills it means more is waiting: the
 * next reads borrow a large buffer from a pool shared by all connections,
 * given back as soon as a read no longer fills it.
 *
 * @module
 */
import {
  type ConnectionContext,
  isConnectionError,
  type Outcome,
  type Transport,
  writeFailure,
} from "./contract.ts";
import { Deadline, deadlines, type Expiry } from "../util/deadline.ts";

/** One connection's protocol state, as the read loop drives it. */
export interface Session {
  /** True while part of a message is buffered: the connection is not idle. */
  readonly hasPartial: boolean;
  /**
   * Takes one read: the first `length` bytes of `buffer`, valid only until
   * the call's result is written. Returns the bytes to answer, if any.
   */
  receive(
    buffer: Uint8Array,
    length: number,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Set by `receive` to close after its answer is written, with this outcome. */
  readonly closeWith: Outcome | undefined;
  /** Exchanges completed (questions answered); absent for a byte stream. */
  readonly answered?: number;
  /** Called once the answer `receive` returned is written (or failed to be): its bytes are free. */
  sent?(): void;
}

/** Options for {@linkcode serveSession}. */
export interface ReadLoopOptions {
  /** Protocol name for the access record. */
  protocol: string;
  /**
   * Close a connection silent this long. 0 (a one-at-a-time worker's
   * `serial_idle = 0`): close it as soon as it is idle after an answer;
   * its first message, or the rest of one, may still take
   * {@linkcode FIRST_MESSAGE_MS}.
   */
  idleMs: number;
  /** Largest read, into a buffer borrowed after a read filled the connection's own. */
  burstSize: number;
  /** Bytes of the connection's own read buffer. @default {READ_SIZE} */
  readSize?: number;
}

/**
 * What a connection's own read buffer holds: a Zen question or two, an
 * echo line. A larger read borrows from the pool, so this is most of what
 * an idle connection costs in buffers.
 */
export const READ_SIZE = 512;

/**
 * With an idle limit of 0, how long a connection may take to send its
 * first message or the rest of one: a client cannot be answered in no
 * time, and a question may arrive in pieces.
 */
export const FIRST_MESSAGE_MS = 1000;

/** Spare burst buffers by size; each connection returns its own when done. */
const spares = new Map<number, Uint8Array[]>();
const SPARES_KEPT = 16;

function borrow(size: number): Uint8Array {
  return spares.get(size)?.pop() ?? new Uint8Array(size);
}

function giveBack(buffer: Uint8Array): void {
  let list = spares.get(buffer.length);
  if (list === undefined) spares.set(buffer.length, list = []);
  if (list.length < SPARES_KEPT) list.push(buffer);
}

/**
 * Connections' own buffers are cut from shared slabs: an `ArrayBuffer` of
 * its own costs a 512-byte buffer about 800 bytes more of resident memory
 * (measured: 1,353 against 741 bytes each), in objects and native
 * bookkeeping. A closed connection's buffer goes to a free list for the
 * next one; slabs stay at the high-water mark of connections.
 */
const SLAB_BYTES = 64 * 1024;
let slab: ArrayBuffer | undefined;
let slabUsed = 0;
const unused = new Map<number, Uint8Array[]>();

function takeOwn(size: number): Uint8Array {
  const reused = unused.get(size)?.pop();
  if (reused !== undefined) return reused;
  if (size > SLAB_BYTES / 8) return new Uint8Array(size);
  if (slab === undefined || slabUsed + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const own = new Uint8Array(slab, slabUsed, size);
  slabUsed += size;
  return own;
}

function giveOwn(own: Uint8Array): void {
  let list = unused.get(own.length);
  if (list === undefined) unused.set(own.length, list = []);
  list.push(own);
}

/**
 * Serves one connection with `session` to its end. Rejects only for a bug
 * (a transport error that {@linkcode isConnectionError} does not know),
 * after recording the connection with the outcome `"error"`.
 */
export function serveSession(
  transport: Transport,
  context: ConnectionContext,
  session: Session,
  options: ReadLoopOptions,
): Promise<void> {
  return new Conversation(transport, context, session, options).run();
}

/** One connection's loop state; it is also the connection's idle deadline. */
class Conversation extends Deadline {
  #transport: Transport;
  #context: ConnectionContext;
  #session: Session;
  #options: ReadLoopOptions;
  /** Waiting for a new message (not the rest of one): a drain may close now. */
  #waitingIdle = true;
  #drained: boolean;
  #timedOut = false;

  constructor(
    transport: Transport,
    context: ConnectionContext,
    session: Session,
    options: ReadLoopOptions,
  ) {
    super(deadlines);
    this.#transport = transport;
    this.#context = context;
    this.#session = session;
    this.#options = options;
    this.#drained = context.draining.aborted;
    // The wheel's sweep tells us when draining starts.
    if (!this.#drained) this.signal = context.draining;
  }

  protected override expire(why: Expiry): void {
    if (why === "signal") {
      this.#drained = true;
      // An idle connection closes now; a busy one after its answers.
      if (this.#waitingIdle) this.#transport.close();
      return;
    }
    this.#timedOut = true;
    this.#transport.close();
  }

  async run(): Promise<void> {
    const started = performance.now();
    const transport = this.#transport;
    const session = this.#session;
    const { idleMs, burstSize } = this.#options;
    const own = takeOwn(this.#options.readSize ?? READ_SIZE);
    let buffer: Uint8Array = own;
    let bytesIn = 0;
    let bytesOut = 0;
    let outcome: Outcome = "closed normally";
    /** The last read was answered and left nothing waiting that we know of. */
    let answered = false;
    /** Exchanges already counted through the context's `answered`. */
    let counted = 0;
    try {
      for (;;) {
        const idle = !session.hasPartial;
        this.#waitingIdle = idle;
        if (this.#drained && idle) {
          outcome = "draining";
          break;
        }
        if (idleMs === 0 && idle && answered) {
          outcome = "idle timeout";
          break;
        }
        this.arm(idleMs === 0 ? FIRST_MESSAGE_MS : idleMs);
        let n: number | null;
        try {
          n = await transport.read(buffer);
        } catch (error) {
          // Closed (by the deadline, a drain or the peer) or reset: the end
          // of the stream. Anything else is a bug, for the acceptor's log.
          if (!isConnectionError(error)) {
            outcome = "error";
            throw error;
          }
          n = null;
        }
        this.disarm();
        if (n === null) {
          outcome = this.#timedOut
            ? "idle timeout"
            : session.hasPartial
            ? "sent a partial question then closed"
            : this.#drained
            ? "draining"
            : "closed normally";
          break;
        }
        this.#waitingIdle = false;
        bytesIn += n;
        let reply = session.receive(buffer, n);
        if (reply instanceof Promise) reply = await reply;
        // Counted as answered, as the closing record counts them.
        const total = session.answered;
        if (total !== undefined && total > counted) {
          this.#context.answered?.(total - counted);
          counted = total;
        }
        if (reply !== undefined) {
          try {
            if (reply.length > 0) await transport.write(reply);
          } catch (error) {
            if (!isConnectionError(error)) {
              outcome = "error";
              throw error;
            }
            outcome = writeFailure(error);
            break;
          } finally {
            session.sent?.();
          }
          bytesOut += reply.length;
        }
        // A full read means more may be waiting, answered or not.
        answered = reply !== undefined && n < buffer.length;
        if (session.closeWith !== undefined) {
          outcome = session.closeWith;
          break;
        }
        // A full read means more may be waiting: take it in one large read.
        if (n === buffer.length) {
          if (buffer === own && burstSize > own.length) {
            buffer = borrow(burstSize);
          }
        } else if (buffer !== own) {
          giveBack(buffer);
          buffer = own;
        }
      }
    } finally {
      // No read is pending any more: the buffers are free.
      if (buffer !== own) giveBack(buffer);
      giveOwn(own);
      this.signal = undefined;
      this.dispose();
      transport.close();
      const record = {
        protocol: this.#options.protocol,
        peer: this.#context.info.peer,
        bytesIn,
        bytesOut,
        durationMs: performance.now() - started,
        outcome,
      };
      this.#context.access(
        session.answered === undefined
          ? record
          : { ...record, requests: session.answered },
      );
    }
  }
}
