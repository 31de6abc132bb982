/**
 * `processes`: N preforked child processes of this same program (nginx,
 * gunicorn) serving ONE listening socket, bound by the master, each child
 * with the configured `concurrency`:
 *
 * - `concurrency = 0` (an event loop per process): every child gets the
 *   socket over a `node:child_process` IPC channel and accepts from it
 *   (the kernel queue is shared). Not as an inherited descriptor: Deno's
 *   `spawn` clears O_NONBLOCK on a descriptor it maps into the child, and
 *   that flag belongs to the socket, so a sibling's `accept()` would block
 *   its whole event loop until the next client (seen in tests);
 * - `concurrency > 0` (the blocking pool): the master accepts, but only
 *   while some child has a free slot, and passes each connection to the
 *   child with the most room over a `node:child_process` IPC channel
 *   ({@linkcode HandbackRouter}). While every child is busy the master
 *   does not accept, and clients wait in the kernel queue.
 *
 * Why the master accepts for the blocking pool, unlike `threads` (where
 * each thread polls the shared socket itself): one poll of Deno's
 * `node:net` accepts every queued connection, so a child would sometimes
 * hold connections it has no room for and must hand them back; but a
 * Deno 2.9 IPC read that returns a plain message and a socket-carrying one
 * together attaches the socket to the first (checked: the child's channel
 * then stalls for good), so sockets can safely travel one way only.
 *
 * The master supervises through the {@linkcode Pool} and holds the
 * listener's one limiter, which children consult per connection (see
 * `limiter.ts`), and its one table of `request_rate` buckets, which they
 * consult per request while that limit is on (see `admission.ts`); the
 * master counts the connections it refuses in `/metrics`. A child talks
 * to the master in JSON lines over its stdin/stdout and logs to the
 * inherited stderr with its own tag and pid.
 * It exits when its stdin closes, so even a SIGKILLed master leaves no
 * orphans. Children are started with `spawn` (not `fork`, which would
 * grant them every permission) and explicit, narrowed permission flags.
 *
 * @module
 */
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import type net from "node:net";
import type { Readable, Writable } from "node:stream";
import { log } from "../../log/log.ts";
import { writeStdout } from "../../log/stdout.ts";
import { type RawTcp, rawTcp, SERVER } from "../../net/fd_tcp.ts";
import { LocalLimiter, type Refusal } from "../../net/limiter.ts";
import { formatAddress } from "../../config/address.ts";
import { metrics, seriesKey } from "../../metrics/registry.ts";
import { exportRateTable } from "../../metrics/rate_tables.ts";
import { TokenBuckets } from "../../util/token_buckets.ts";
import { parseRequestQuestion } from "./admission.ts";
import type {
  Generation,
  Model,
  ModelContext,
  RunningListener,
} from "../contract.ts";
import { HandbackRouter, type HandbackWorker } from "../ipc/handback.ts";
import { limitsOf } from "../in_isolate/serve.ts";
import { noteSerialIdle } from "../in_isolate/serial.ts";
import { LineChannel } from "../ipc/line_channel.ts";
import {
  type FromWorker,
  type HandMessage,
  toWire,
  type ToWorker,
  type WireGeneration,
} from "../ipc/messages.ts";
import {
  runPool,
  type SpawnWorker,
  type WorkerExit,
  workerInit,
} from "../pool/supervisor.ts";
import {
  type ChildNeeds,
  logNeeds,
  netNeed,
  workerCommand,
} from "../ipc/spawn.ts";
import { poolSocket } from "../pool/shared_socket.ts";

/** What a pool child touches: its address, the docroot and the log file. */
function poolNeeds(context: ModelContext, generation: Generation): ChildNeeds {
  const { http, log: logConfig } = generation.config;
  const { hostname, port } = context.spec.address;
  const { tls_cert, tls_key } = context.spec.listener;
  const logs = logNeeds(logConfig);
  return {
    net: [netNeed(hostname, port)],
    // The certificate files: a worker terminates TLS and re-reads them on
    // every reload.
    read: [http.docroot, tls_cert, tls_key, ...logs.read].filter((path) =>
      path !== ""
    ),
    write: logs.write,
    syslog: logs.syslog,
  };
}

const encoder = new TextEncoder();

const wireCache = new WeakMap<Generation, WireGeneration>();

function wire(generation: Generation): WireGeneration {
  let cached = wireCache.get(generation);
  if (!cached) {
    cached = toWire(generation);
    wireCache.set(generation, cached);
  }
  return cached;
}

/**
 * A child's stdout as a web stream. Not `Readable.toWeb`: cancelling that
 * (when the channel closes) leaves a rejected promise nobody can catch,
 * which would end the master.
 */
function webReadable(stream: Readable): ReadableStream<Uint8Array> {
  const unexpected = (what: string, error: unknown) =>
    log("pool").debug("a child's stdout could not {what}: {error}", {
      what,
      error: (error as Error)?.message ?? String(error),
    });
  // A child that died mid-write, or a cancelled read: the exit is handled
  // where the child's status is awaited, not as an error here.
  stream.on("error", () => {});
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // Both run as node stream events, which must not throw. A controller
      // of a stream closed already ("end" then "close") or cancelled throws
      // TypeError "The stream controller cannot close or enqueue" (checked
      // on Deno 2.9.6); anything else is logged.
      const end = () => {
        try {
          controller.close();
        } catch (error) {
          if (!(error instanceof TypeError)) unexpected("close", error);
        }
      };
      stream.on("data", (chunk: Uint8Array) => {
        const copy = new Uint8Array(chunk);
        try {
          controller.enqueue(copy);
        } catch (error) {
          // Cancelled: what comes after is not read.
          if (!(error instanceof TypeError)) unexpected("enqueue", error);
        }
      });
      stream.on("end", end);
      stream.on("close", end);
    },
    cancel() {
      stream.destroy();
    },
  });
}

/** A child's stdin as a web stream (see {@linkcode webReadable}). */
function webWritable(stream: Writable): WritableStream<Uint8Array> {
  stream.on("error", () => {});
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise((resolve, reject) => {
        stream.write(chunk, (error) => error ? reject(error) : resolve());
      });
    },
    close() {
      return new Promise((resolve) => {
        if (stream.writableFinished || stream.destroyed) return resolve();
        stream.once("close", () => resolve());
        stream.once("error", () => resolve());
        stream.end(() => resolve());
      });
    },
    abort() {
      stream.destroy();
    },
  });
}

function sendHandle(
  child: ChildProcess,
  message: HandMessage,
  handle: RawTcp,
  done: (error: Error | null) => void,
): boolean {
  if (!child.connected) return false;
  try {
    // false only means the channel is backed up: the callback still says
    // whether it was sent.
    child.send(
      message,
      handle as unknown as net.Socket,
      {},
      (error) => done(error ?? null),
    );
    return true;
  } catch (error) {
    // Not sent: false, and the caller reroutes or closes the handle. A handle
    // closed meanwhile throws TypeError ERR_INVALID_HANDLE_TYPE "This handle
    // type cannot be sent"; a child gone is reported to the callback, not
    // thrown (both checked on Deno 2.9.6). Anything else is logged.
    if ((error as { code?: unknown })?.code !== "ERR_INVALID_HANDLE_TYPE") {
      log("pool").debug("cannot send a handle to pid {pid}: {error}", {
        pid: child.pid,
        error: (error as Error)?.message ?? String(error),
      });
    }
    return false;
  }
}

/** The processes model. */
export const processes: Model = {
  name: "processes",
  async start(context: ModelContext): Promise<RunningListener> {
    const { spec } = context;
    const name = `listener[${spec.index}] (processes)`;
    // Fail now, with the reason, if children cannot be started at all.
    workerCommand("pool", poolNeeds(context, context.generation));
    noteSerialIdle(context);
    const lease = poolSocket(context);
    const dispatch = lease !== undefined && spec.listener.concurrency > 0;
    const limiter = new LocalLimiter(limitsOf(context.generation));
    const label = formatAddress(spec.address);
    let requestBuckets: TokenBuckets | undefined;
    /** The pool's request-rate table, made at the first question. */
    const requestRates = (): TokenBuckets => {
      if (requestBuckets === undefined) {
        requestBuckets = TokenBuckets.allocate();
        exportRateTable("request_rate", requestBuckets);
      }
      return requestBuckets;
    };
    const logger = log("pool");
    const router = new HandbackRouter<RawTcp>((handle) => handle.close());
    if (dispatch) router.listen(lease.dup(), (raw) => raw);

    const spawn: SpawnWorker = (request, onMessage) => {
      const command = workerCommand(
        "pool",
        poolNeeds(context, request.generation),
      );
      const child = spawnChild(command.command, command.args, {
        stdio: lease
          ? ["pipe", "pipe", "inherit", "ipc"]
          : ["pipe", "pipe", "inherit"],
      });
      const status = new Promise<WorkerExit>((resolve) => {
        child.once("exit", (code, signal) =>
          resolve(
            signal ? { signal } : { code: code ?? 1 },
          ));
        child.once("error", (error) => {
          // Never started (ENOENT, EAGAIN); "exit" does not follow.
          if (child.pid === undefined) resolve({ error: error.message });
        });
      });
      const channel = new LineChannel<FromWorker, ToWorker<WireGeneration>>(
        webReadable(child.stdout!),
        webWritable(child.stdin!),
      );
      // Connections this child holds places for, to give back if it dies.
      const held = new Map<string, number>();
      const send = (message: ToWorker) => {
        if (message.t === "drain") {
          // A draining child takes nothing more; it waits for what it was
          // passed already (over the IPC channel, which this one is not).
          message = { ...message, handed: router.sentTo(handback) };
          router.remove(handback);
        }
        if (message.t === "init" || message.t === "update") {
          channel.send({ ...message, generation: wire(message.generation) });
        } else {
          channel.send(message);
        }
      };
      let gone = false;
      const handback: HandbackWorker<RawTcp> = {
        deliver: (handle, force) =>
          !gone &&
          sendHandle(
            child,
            {
              t: "conn",
              ...(force ? { force } : {}),
            },
            handle,
            (error) => {
              // Sent: the child holds its own copy now. Not sent: reroute.
              if (error) router.offer(handle);
              else handle.close();
            },
          ),
        queued: (waiting) => {
          if (!gone) send({ t: "queued", waiting });
        },
      };
      child.on("message", (message: HandMessage, handle?: RawTcp) => {
        if (!handle) return;
        if (message?.t === "handback") router.offer(handle);
        else handle.close();
      });
      // An IPC error (child gone mid-send) must not crash the master.
      child.on("error", () => {});
      send({
        ...workerInit(request, spec),
        ...(dispatch
          ? { dispatched: true }
          : lease
          ? { socketOverIpc: true }
          : {}),
      });
      if (lease && !dispatch) {
        // The socket goes as a duplicate in a handle of its own, closed
        // once written (the lease keeps the socket).
        const TCP = rawTcp()!;
        const handle = new TCP(SERVER);
        if (handle.open(lease.dup()) === 0) {
          if (
            !sendHandle(child, { t: "socket" }, handle, () => handle.close())
          ) {
            handle.close();
          }
        }
      }
      /** Answers a child's question: a connection's source, or a request's. */
      const admit = (source: string): Refusal | undefined => {
        const request = parseRequestQuestion(source);
        if (request !== undefined) {
          const wait = requestRates().take(request.client, request.limit);
          return wait > 0 ? "request_rate" : undefined;
        }
        const refusal = limiter.admit(source);
        if (refusal === undefined) {
          held.set(source, (held.get(source) ?? 0) + 1);
        } else {
          // The child's acceptor never sees this refusal: count it here.
          metrics.inc(
            seriesKey("koan_connections_refused_total", {
              listener: label,
              reason: refusal,
            }),
          );
        }
        return refusal;
      };
      const listening = (async () => {
        const garbage = (line: string) =>
          logger.warn("{tag} wrote a non-message on its stdout: {line}", {
            tag: request.tag,
            line: line.slice(0, 80),
          });
        for await (const message of channel.messages(garbage)) {
          if (message.t === "admit") {
            channel.send({
              t: "admitted",
              seq: message.seq,
              refusal: admit(message.source) ?? null,
            });
          } else if (message.t === "release") {
            const count = held.get(message.source) ?? 0;
            if (count > 0) {
              limiter.release(message.source);
              if (count === 1) held.delete(message.source);
              else held.set(message.source, count - 1);
            }
          } else if (message.t === "stdout") {
            // A child's fd 1 is this channel: its /dev/stdout lines come
            // here and go out whole on the master's stdout.
            try {
              writeStdout(encoder.encode(message.text));
            } catch (error) {
              // stdout closed or gone (BrokenPipe, BadResource): the lines
              // are lost, as the master's own would be.
              if (
                !(error instanceof Deno.errors.BrokenPipe ||
                  error instanceof Deno.errors.BadResource ||
                  error instanceof Deno.errors.NotConnected)
              ) {
                throw error;
              }
            }
          } else if (message.t === "slots") {
            router.slots(handback, message.free, message.adopted);
          } else {
            onMessage(message);
          }
        }
      })();
      const exited = status.then(async (exit): Promise<WorkerExit> => {
        gone = true;
        router.remove(handback);
        await channel.close();
        await listening;
        for (const [source, count] of held) {
          for (let i = 0; i < count; i++) limiter.release(source);
        }
        held.clear();
        return exit;
      });
      return {
        pid: child.pid ?? 0,
        send,
        kill: () => {
          try {
            child.kill("SIGKILL");
          } catch (error) {
            // Nothing is expected: node's kill() returns false for a child
            // that has exited (checked on Deno 2.9.6). Logged, not thrown:
            // the pool kills from its timers.
            logger.debug("cannot kill {tag}: {error}", {
              tag: request.tag,
              error: (error as Error)?.message ?? String(error),
            });
          }
        },
        exited,
      };
    };

    return await runPool(context, {
      name,
      kind: "process",
      spawn,
      limiter,
      router,
      lease,
    });
  },
};
