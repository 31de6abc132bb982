/**
 * One `processes` worker (`koan _worker pool`): it reads JSON-line messages from the
 * master on stdin, answers on stdout, logs to the inherited stderr,
 * accepts from the pool's shared listening socket on fd 3 (handing
 * connections it has no room for back over the IPC channel on fd 4) and
 * serves until told to drain. stdin at
 * end of file means the master is gone (even SIGKILLed): the worker stops
 * accepting, finishes what is in flight and exits, so no orphan keeps the
 * port. SIGINT is ignored (a terminal's ^C reaches the whole process
 * group; the master coordinates the stop); SIGTERM/SIGQUIT drain and
 * exit. The log file is reopened when the master says so (`reopen`),
 * never on a signal of the child's own.
 *
 * @module
 */
import process from "node:process";
import type net from "node:net";
import { flushLogs, loadLogging, log } from "../../log/log.ts";
import { routeStdout } from "../../log/stdout.ts";
import { metrics } from "../../metrics/registry.ts";
import type { RawTcp } from "../../net/fd_tcp.ts";
import { protocolFor } from "../../protocols/registry.ts";
import type { Refusal } from "../../net/limiter.ts";
import { LineChannel } from "../ipc/line_channel.ts";
import {
  fromWire,
  type FromWorker,
  type HandMessage,
  LATE_HANDBACK_MS,
  type PoolInit,
  type ToWorker,
  type WireGeneration,
} from "../ipc/messages.ts";
import {
  dispatchToWorker,
  PoolWorker,
  type WorkerSide,
} from "../pool/worker.ts";
import { admittingSource, MasterLimiter } from "./admission.ts";

/** Exit code of a worker that could not boot (gunicorn's WORKER_BOOT_ERROR). */
export const WORKER_BOOT_ERROR = 3;
/** How long a child waits for the listening socket over IPC. */
const SOCKET_WAIT_MS = 10_000;
/** How long a draining child waits for connections passed just before. */
const HANDED_WAIT_MS = 2000;

function onSignals(
  handlers: Partial<Record<Deno.Signal, () => void>>,
): () => void {
  const added: [Deno.Signal, () => void][] = [];
  for (const [signal, handler] of Object.entries(handlers)) {
    try {
      Deno.addSignalListener(signal as Deno.Signal, handler);
      added.push([signal as Deno.Signal, handler]);
    } catch (error) {
      // A signal this platform does not have is a TypeError.
      if (!(error instanceof TypeError)) throw error;
    }
  }
  return () => {
    for (const [signal, handler] of added) {
      Deno.removeSignalListener(signal, handler);
    }
  };
}

/**
 * Gives a connection back to the master over the IPC channel (one passed
 * over after this child began draining); false when there is no channel.
 * It waits {@linkcode LATE_HANDBACK_MS} first: the acknowledgement of the
 * hand-over just received must not share the master's next read with a
 * socket-carrying message (see `processes.ts`).
 */
function handBack(handle: RawTcp): boolean {
  if (!process.send || !process.connected) return false;
  setTimeout(() => {
    if (!process.send || !process.connected) {
      handle.close();
      return;
    }
    try {
      process.send(
        { t: "handback" } satisfies HandMessage,
        handle as unknown as net.Socket,
        {},
        () => handle.close(),
      );
    } catch (error) {
      // Any error means the handle cannot travel (a closed handle is a
      // TypeError, ERR_INVALID_HANDLE_TYPE): the connection is lost either
      // way, so close it and say why.
      log("worker").debug("cannot hand a connection back: {error}", {
        error: (error as Error).message,
      });
      handle.close();
    }
  }, LATE_HANDBACK_MS);
  return true;
}

/** Runs one `processes` child (`koan _worker pool`) to its end; resolves with the exit code. */
export async function runPoolChild(): Promise<number> {
  await loadLogging(); // a long-lived process: lines are written as logged
  const channel = new LineChannel<ToWorker<WireGeneration>, FromWorker>(
    Deno.stdin.readable,
    Deno.stdout.writable,
  );
  const send = (message: FromWorker) => channel.send(message);
  // fd 1 is the channel: lines for the daemon's stdout travel over it, in
  // order with the messages, and the master writes them out.
  const decoder = new TextDecoder();
  routeStdout((bytes) => send({ t: "stdout", text: decoder.decode(bytes) }));
  let worker: PoolWorker | undefined;
  let tag = "w?";
  let shutdownMs = 30_000;
  let stopping: Promise<number> | undefined;
  const asks = new Map<number, (refusal: Refusal | undefined) => void>();
  let seq = 0;
  let masterGone = false;

  const stop = (timeoutMs: number, why: string): Promise<number> => {
    stopping ??= (async () => {
      log("worker").info("{tag} draining ({why})", { tag, why });
      const forced = worker ? await worker.drain(timeoutMs) : 0;
      send({ t: "drained", forced, metrics: metrics.snapshot() });
      return forced;
    })();
    return stopping;
  };

  const removeSignals = onSignals({
    SIGINT: () => {},
    SIGHUP: () => {},
    // Stopped by someone else: drain, then exit (the master replaces us).
    SIGTERM: () => void stop(shutdownMs, "SIGTERM").then(() => channel.close()),
    SIGQUIT: () => void stop(shutdownMs, "SIGQUIT").then(() => channel.close()),
  });

  // Over the IPC channel: the pool's listening socket once, then (the
  // blocking pool) each connection the master passes over.
  let socket: ((fd: number) => void) | undefined;
  const socketFd = new Promise<number>((resolve) => socket = resolve);
  // Connections passed over so far, and a drain waiting for the last ones.
  let received = 0;
  let arrived: (() => void) | undefined;
  const onHanded = (message: HandMessage, handle?: RawTcp) => {
    if (!handle) return;
    if (message?.t === "socket") {
      // Our own descriptor; the handle Deno made for it closes.
      const fd = handle.fdForIpc();
      handle.close();
      socket?.(fd);
      return;
    }
    if (message?.t === "conn") {
      received++;
      arrived?.();
    }
    if (message?.t !== "conn" || !worker?.adopt(handle, message.force)) {
      if (!handBack(handle)) handle.close();
    }
  };
  /**
   * Waits (at most {@linkcode HANDED_WAIT_MS}) until `handed` connections
   * have come over the IPC channel: the master passed them before it said
   * drain, on the other channel, and they are this child's to serve.
   */
  const handedOver = async (handed: number): Promise<void> => {
    const deadline = performance.now() + HANDED_WAIT_MS;
    while (received < handed && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - performance.now());
        arrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      arrived = undefined;
    }
  };
  process.on("message", onHanded);

  let booted = false;
  const side: WorkerSide<WireGeneration> = {
    get worker() {
      return worker;
    },
    async init(message) {
      tag = message.tag;
      const generation = fromWire(message.generation);
      shutdownMs = generation.config.limits.shutdown_timeout * 1000;
      const protocol = protocolFor(message.spec.listener.protocol);
      const init: PoolInit = { ...message, generation };
      if (message.socketOverIpc) {
        const fd = await Promise.race([
          socketFd,
          new Promise<number>((resolve) =>
            setTimeout(() => resolve(-1), SOCKET_WAIT_MS)
          ),
        ]);
        if (fd < 0) {
          send({
            t: "boot-error",
            message: "the listening socket did not arrive from the master",
            bind: false,
          });
          return WORKER_BOOT_ERROR;
        }
        init.listenFd = fd;
      }
      worker = await PoolWorker.start(init, {
        kind: "process",
        send,
        handBack,
        limiter: new MasterLimiter((source) => send({ t: "release", source })),
        wrapSource: (source) =>
          admittingSource(source, {
            busyReply: protocol.busyReply,
            ask: (from) => {
              if (masterGone) return Promise.resolve(undefined);
              const id = ++seq;
              send({ t: "admit", seq: id, source: from });
              return new Promise((resolve) => asks.set(id, resolve));
            },
          }),
      });
      if (!worker) return WORKER_BOOT_ERROR;
      booted = true;
      return undefined;
    },
    async update(wire) {
      const generation = fromWire(wire);
      shutdownMs = generation.config.limits.shutdown_timeout * 1000;
      await worker?.update(generation, tag);
    },
    drain(timeoutMs, handed) {
      void handedOver(handed ?? 0)
        .then(() => stop(timeoutMs, "asked by the master"))
        .then(() => void channel.close());
    },
    admitted(id, refusal) {
      asks.get(id)?.(refusal);
      asks.delete(id);
    },
  };
  try {
    for await (
      const message of channel.messages((line) =>
        log("worker").warn("ignoring a garbled line from the master: {line}", {
          line: line.slice(0, 80),
        })
      )
    ) {
      const exitCode = await dispatchToWorker(message, side);
      if (exitCode !== undefined) return exitCode;
    }
    // stdin closed: the master has exited or died. Serve what is in
    // flight, accept nothing more, and go.
    masterGone = true;
    for (const resolve of asks.values()) resolve(undefined);
    asks.clear();
    if (!booted) return WORKER_BOOT_ERROR;
    await stop(shutdownMs, "the master has gone");
    return 0;
  } finally {
    removeSignals();
    process.off("message", onHanded);
    // The IPC channel would keep this process alive.
    if (process.connected) process.disconnect?.();
    // Let the last messages (drained, boot-error) reach the master before
    // main.ts exits the process.
    await Promise.race([
      channel.close(),
      new Promise((resolve) => setTimeout(resolve, 1000)),
    ]);
    await flushLogs();
  }
}
