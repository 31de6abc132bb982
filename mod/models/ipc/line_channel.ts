/**
 * A message channel over a byte-stream pair: one JSON object per line. The
 * processes model talks to each child over the child's stdin (master →
 * child) and stdout (child → master); the child's stderr stays the log.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import { isOneOf } from "../../util/errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What reading a stream over a pipe rejects with when the pipe failed. */
const STREAM_FAILED = [
  Deno.errors.Interrupted,
  Deno.errors.BadResource,
  Deno.errors.BrokenPipe,
  Deno.errors.ConnectionReset,
];

/** Longest line accepted; a longer one is a broken peer, not a message. */
const MAX_LINE = 64 * 1024 * 1024;

/** JSON lines in both directions over a readable and a writable stream. */
export class LineChannel<In, Out> {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;
  #closing: Promise<void> = Promise.resolve();

  /** Wraps the two streams; the channel owns them from now on. */
  constructor(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
  ) {
    this.#reader = readable.getReader();
    this.#writer = writable.getWriter();
  }

  /** Queues one message; a peer that has gone away is ignored (its exit is noticed elsewhere). */
  send(message: Out): void {
    if (this.#closed) return;
    // Any rejection means the peer's end is closed; its exit is noticed
    // where its status is awaited.
    this.#writer.write(encoder.encode(JSON.stringify(message) + "\n"))
      .catch(() => {});
  }

  /**
   * Yields messages until the peer closes its end. A line that is not JSON
   * is passed to `onGarbage` and skipped.
   */
  async *messages(onGarbage?: (line: string) => void): AsyncGenerator<In> {
    let pending = "";
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await this.#reader.read();
      } catch (error) {
        // The stream failed: it rejects with its source's error, which is
        // the end of the peer's messages like an end of stream. From a
        // Deno pipe that is an I/O error (Interrupted when closed under a
        // pending read, BadResource once closed; checked on Deno 2.9.6).
        // Anything else is logged and ends the messages too: the callers
        // treat the end as the peer gone, and must not fail for it.
        if (!isOneOf(error, STREAM_FAILED)) {
          log("model").debug("reading a channel failed: {error}", {
            error: (error as Error)?.stack ?? String(error),
          });
        }
        return;
      }
      if (chunk.done) return;
      pending += decoder.decode(chunk.value, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() === "") continue;
        let message: In;
        try {
          message = JSON.parse(line) as In;
        } catch (error) {
          // JSON.parse throws SyntaxError for what is not JSON, and nothing
          // else for a string.
          if (!(error instanceof SyntaxError)) throw error;
          onGarbage?.(line);
          continue;
        }
        yield message;
      }
      if (pending.length > MAX_LINE) {
        onGarbage?.(pending.slice(0, 200));
        pending = "";
      }
    }
  }

  /**
   * Closes the writing side once queued messages are written, and stops
   * reading. Idempotent; resolves when the writing side is closed.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Any rejection means that side was closed already.
      this.#closing = this.#writer.close().catch(() => {});
      this.#reader.cancel().catch(() => {});
    }
    return this.#closing;
  }
}
