/**
 * The read loop Zen and echo share: read with an idle deadline, hand the
 * bytes to the protocol's {@linkcode Session}, write what it answers, and
 * end with the seeds' outcomes ("closed normally", "sent a partial
 * question then closed", "idle timeout", "draining", ...) in one access
 * record per connection. Draining closes an idle connection at once and a
 * busy one after its answers.
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
import { deadlines } from "../util/deadline.ts";

/** One connection's protocol state, as the read loop drives it. */
export interface Session {
  /** True while part of a message is buffered: the connection is not idle. */
  readonly hasPartial: boolean;
  /**
   * Takes one read's bytes (valid only until the call's result is written)
   * and returns the bytes to answer, if any.
   */
  receive(
    bytes: Uint8Array,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Set by `receive` to close after its answer is written, with this outcome. */
  readonly closeWith: Outcome | undefined;
  /** Exchanges completed (questions answered); absent for a byte stream. */
  readonly answered?: number;
}

/** Options for {@linkcode serveSession}. */
export interface ReadLoopOptions {
  /** Protocol name for the access record. */
  protocol: string;
  /** Close a connection silent this long. */
  idleMs: number;
  /** Read buffer size in bytes. */
  bufferSize: number;
}

/**
 * Serves one connection with `session` to its end. Rejects only for a bug
 * (a transport error that {@linkcode isConnectionError} does not know),
 * after recording the connection with the outcome `"error"`.
 */
export async function serveSession(
  transport: Transport,
  context: ConnectionContext,
  session: Session,
  options: ReadLoopOptions,
): Promise<void> {
  const started = performance.now();
  const buffer = new Uint8Array(options.bufferSize);
  let bytesIn = 0;
  let bytesOut = 0;
  let outcome: Outcome = "closed normally";
  let waitingIdle = true;
  let timedOut = false;
  let drained = context.draining.aborted;

  const deadline = deadlines.create(() => {
    timedOut = true;
    transport.close();
  });
  const onDrain = () => {
    drained = true;
    // An idle connection closes now; a busy one after its answers.
    if (waitingIdle) transport.close();
  };
  context.draining.addEventListener("abort", onDrain);

  try {
    for (;;) {
      waitingIdle = !session.hasPartial;
      if (drained && waitingIdle) {
        outcome = "draining";
        break;
      }
      deadline.arm(options.idleMs);
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
      deadline.disarm();
      if (n === null) {
        outcome = timedOut
          ? "idle timeout"
          : session.hasPartial
          ? "sent a partial question then closed"
          : drained
          ? "draining"
          : "closed normally";
        break;
      }
      waitingIdle = false;
      bytesIn += n;
      let reply = session.receive(buffer.subarray(0, n));
      if (reply instanceof Promise) reply = await reply;
      if (reply !== undefined && reply.length > 0) {
        try {
          await transport.write(reply);
        } catch (error) {
          if (!isConnectionError(error)) {
            outcome = "error";
            throw error;
          }
          outcome = writeFailure(error);
          break;
        }
        bytesOut += reply.length;
      }
      if (session.closeWith !== undefined) {
        outcome = session.closeWith;
        break;
      }
    }
  } finally {
    context.draining.removeEventListener("abort", onDrain);
    deadline.dispose();
    transport.close();
    const record = {
      protocol: options.protocol,
      peer: context.info.peer,
      bytesIn,
      bytesOut,
      durationMs: performance.now() - started,
      outcome,
    };
    context.access(
      session.answered === undefined
        ? record
        : { ...record, requests: session.answered },
    );
  }
}
