/**
 * One `process-per-connection` child (`koan _worker conn`): stdin carries
 * frames from the master (init, then the client's bytes, EOF and DRAIN),
 * stdout is the reply stream the master relays to the client unchanged,
 * stderr is the log. The child serves that one connection with the
 * protocol handler and exits; stdin at end of file (the master has gone)
 * counts as the client closing.
 *
 * Flow control runs end to end through the pipes: this child reads its
 * next frame only while fewer than {@linkcode INPUT_WINDOW} bytes wait for
 * the handler, and the handler reads only after its answer is written to
 * stdout, which waits while the master is not reading it (the client is
 * not reading its answers). A full stdin pipe in turn holds the master's
 * frame write, and with it the master's next read of the client.
 *
 * @module
 */
import { log, reopenLogs } from "../../log/log.ts";
import type { ConnectionInfo, ProtocolName } from "../../protocols/contract.ts";
import { ConnTransport, type Duplex } from "../../net/transport.ts";
import { ignoring, isOneOf } from "../../util/errors.ts";
import { FRAME, FrameReader } from "../ipc/frames.ts";
import { fromWire, type WireGeneration } from "../ipc/messages.ts";
import { PushedInput } from "./pushed_input.ts";
import { serveRelayed } from "./serve_relayed.ts";

/** The init frame's JSON. */
export interface ConnInit {
  /** Tag on this child's log lines: `c12`. */
  tag: string;
  protocol: ProtocolName;
  generation: WireGeneration;
  info: ConnectionInfo;
  /** False when accepted during `drain_delay` (`serve_relayed.ts`). */
  ready?: boolean;
}

const decoder = new TextDecoder();

/**
 * Client bytes this child takes from stdin ahead of the handler: two of
 * the master's reads. With the pipe (64 KiB on Linux) and the frame
 * reader's buffer, what a client can make this child hold is a few hundred
 * KiB, however much it sends.
 */
const INPUT_WINDOW = 128 * 1024;

/**
 * What reading frames from stdin throws when the master's stream broke off:
 * a corrupt frame (RangeError from FrameReader), stdin closed under a
 * pending read (Interrupted) or before one (BadResource); checked on Deno
 * 2.9.6. The master closing its end of the pipe is a plain end of file.
 */
const STREAM_BROKEN = [
  RangeError,
  Deno.errors.Interrupted,
  Deno.errors.BadResource,
];

/**
 * The client as this child sees it: reads come from DATA frames (pushed
 * into a {@linkcode PushedInput}, which orders a DRAIN after them), writes
 * go to stdout.
 */
class FrameDuplex implements Duplex {
  #input: PushedInput;
  #closed = false;

  constructor(frames: FrameReader, draining: AbortController) {
    this.#input = new PushedInput(draining);
    void this.#pump(frames);
  }

  async #pump(frames: FrameReader): Promise<void> {
    for (;;) {
      // DRAIN and EOF wait behind the data, after which they come anyway;
      // a REOPEN too, at most until send_timeout ends a stuck handler.
      await this.#input.room(INPUT_WINDOW);
      let frame;
      try {
        frame = await frames.next();
      } catch (error) {
        // Anything else is logged, then handled the same: nobody awaits
        // this pump, and the connection must still end.
        if (!isOneOf(error, STREAM_BROKEN)) {
          log("model").debug("reading frames failed: {error}", {
            error: (error as Error)?.stack ?? String(error),
          });
        }
        frame = null;
      }
      if (frame === null) {
        // stdin closed without EOF: the master is gone; finish and go.
        this.#input.drain();
        this.#input.end();
        return;
      }
      switch (frame.type) {
        case FRAME.data:
          this.#input.push(frame.payload);
          break;
        case FRAME.eof:
          this.#input.end();
          break;
        case FRAME.drain:
          this.#input.drain();
          break;
        case FRAME.reopen:
          reopenLogs();
          break;
      }
    }
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#input.read(buffer);
  }

  write(bytes: Uint8Array): Promise<number> {
    return Deno.stdout.write(bytes);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.close();
    try {
      Deno.stdout.close();
    } catch (error) {
      // Nothing is expected: the master closing its end makes no close()
      // here fail, and only this closes stdout, once. Logged, not thrown:
      // this is the handler's cleanup.
      log("model").debug("closing stdout failed: {error}", {
        error: (error as Error)?.message ?? String(error),
      });
    }
  }
}

/** Runs the child; resolves with its exit code. */
export async function runConnChild(): Promise<number> {
  // A terminal's ^C reaches the whole process group; the master decides.
  // Deno throws TypeError for a signal this OS cannot listen for (checked
  // on Deno 2.9.6 with SIGKILL and an unknown name).
  ignoring(TypeError, () => Deno.addSignalListener("SIGINT", () => {}));
  const frames = new FrameReader(Deno.stdin);
  let first;
  try {
    first = await frames.next();
  } catch (error) {
    if (!isOneOf(error, STREAM_BROKEN)) throw error;
    first = null;
  }
  if (first?.type !== FRAME.init) {
    console.error("koan _worker conn: no init frame on stdin");
    return 2;
  }
  const init = JSON.parse(decoder.decode(first.payload)) as ConnInit;
  const generation = fromWire(init.generation);
  const draining = new AbortController();
  const transport = new ConnTransport(
    new FrameDuplex(frames, draining),
    generation.config.limits.send_timeout * 1000,
  );
  await serveRelayed({ ...init, generation }, transport, draining);
  return 0;
}
