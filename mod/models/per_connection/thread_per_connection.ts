/**
 * `thread-per-connection`: a fresh Worker per client (socketserver's
 * ThreadingMixIn). The main thread accepts — with the limiter, so
 * `max_connections` caps the threads, the denial of service the seeds warn
 * about with uncapped threads — and relays bytes, because a `Deno.Conn`
 * cannot move to another isolate. The worker runs the protocol handler.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import type {
  ConnectionContext,
  DaemonState,
  Handler,
  Transport,
} from "../../protocols/contract.ts";
import type { Generation, Model, ModelContext } from "../contract.ts";
import {
  type FromConnWorker,
  type ToConnWorker,
  WINDOW,
} from "./thread_messages.ts";
import { perConnectionListener, serveInIsolate } from "../in_isolate/serve.ts";
import { readClient } from "./read_client.ts";

const WORKER_URL = new URL("./thread_child.ts", import.meta.url);
/** Size of each relayed read. */
const CHUNK = 16 * 1024;

let connections = 0;
const logger = log("model");
/** Connection workers alive, for SIGUSR2 (log reopen). */
const live = new Set<Worker>();

/** Relays one connection to a fresh worker until the worker is done. */
function relay(
  worker: Worker,
  transport: Transport,
  context: ConnectionContext,
): Promise<void> {
  const post = (message: ToConnWorker, transfer: Transferable[] = []) => {
    try {
      worker.postMessage(message, transfer);
    } catch (error) {
      // Nothing is expected: a terminated worker drops messages without a
      // word, and what postMessage() throws is a DataCloneError (checked on
      // Deno 2.9.6), a bug. Logged, not thrown: this runs in event handlers.
      logger.debug("cannot post {t} to a connection worker: {error}", {
        t: message.t,
        error: (error as Error)?.message ?? String(error),
      });
    }
  };
  let credit = WINDOW;
  let wakeReader: (() => void) | undefined;
  let finished = false;
  // Push the client's bytes as they arrive, within the credit window.
  const pump = async () => {
    while (!finished) {
      if (credit <= 0) {
        await new Promise<void>((resolve) => wakeReader = resolve);
        continue;
      }
      const chunk = new Uint8Array(CHUNK);
      const n = await readClient(transport, chunk, context);
      if (n === null) {
        post({ t: "eof" });
        return;
      }
      credit--;
      post({ t: "data", buffer: chunk.buffer, length: n }, [chunk.buffer]);
    }
  };
  // Writes to the socket in order, one at a time.
  let writes = Promise.resolve();
  return new Promise<void>((resolve) => {
    const onDrain = () => post({ t: "drain" });
    const finish = () => {
      if (finished) return;
      finished = true;
      context.draining.removeEventListener("abort", onDrain);
      wakeReader?.();
      resolve();
    };
    worker.onmessage = (event: MessageEvent<FromConnWorker>) => {
      const message = event.data;
      switch (message.t) {
        case "consumed":
          credit++;
          wakeReader?.();
          wakeReader = undefined;
          break;
        case "write":
          writes = writes.then(() =>
            transport.write(new Uint8Array(message.buffer)).then(
              () => post({ t: "wrote", ok: true }),
              () => post({ t: "wrote", ok: false }),
            )
          );
          break;
        case "close":
          transport.close();
          break;
        case "done":
          finish();
          break;
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // Unhandled in the worker: keep the daemon alive, end this client.
      event.preventDefault();
      logger.error("connection worker failed: {error}", {
        error: event.message,
      });
      finish();
    };
    void pump();
    // After any bytes already pushed: the worker orders data before drain.
    if (context.draining.aborted) onDrain();
    else context.draining.addEventListener("abort", onDrain);
  });
}

/** The handler the acceptor runs: one Worker per connection. */
function threadHandler(
  generation: Generation,
  protocol: string,
  state: DaemonState,
): Handler {
  return async (transport, context) => {
    const tag = `c${++connections}`;
    const worker = new Worker(WORKER_URL, { type: "module", name: tag });
    live.add(worker);
    try {
      worker.postMessage(
        {
          t: "init",
          tag,
          protocol,
          generation,
          info: context.info,
          ready: state.ready !== false,
        } as ToConnWorker,
      );
      await relay(worker, transport, context);
    } finally {
      transport.close();
      worker.terminate();
      live.delete(worker);
    }
  };
}

/** The thread-per-connection model. */
export const threadPerConnection: Model = {
  name: "thread-per-connection",
  start(context: ModelContext) {
    const protocol = context.spec.listener.protocol;
    const running = serveInIsolate(context, {
      concurrency: 0,
      handler: (generation) =>
        threadHandler(generation, protocol, context.state),
    });
    return Promise.resolve(perConnectionListener(running, () => {
      // Long-lived connections keep their log file open: reopen it too.
      for (const worker of live) worker.postMessage({ t: "reopen" });
    }));
  },
};
