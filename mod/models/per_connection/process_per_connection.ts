/**
 * `process-per-connection`: a fresh child process per client (the seeds'
 * fork servers). The master accepts — with the limiter, so
 * `max_connections` caps the children — and relays bytes over the child's
 * stdin (framed, see `frames.ts`) and stdout. Every child is awaited
 * (reaped) and its pipes closed, so no zombie and no descriptor outlives
 * its connection.
 *
 * Why relay and not pass the socket: `node:child_process` `fork()` +
 * `send(msg, socket)` does work in Deno 2.9.6, but `fork()` starts the
 * child with every permission (`-A`) whatever the parent holds, and a
 * compiled binary has no module to fork. The relay child needs no network
 * permission at all.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import {
  type ConnectionContext,
  type DaemonState,
  type Handler,
  isConnectionError,
  type Transport,
} from "../../protocols/contract.ts";
import type { Generation, Model, ModelContext } from "../contract.ts";
import type { ConnInit } from "./process_child.ts";
import { encodeFrame, FRAME } from "../ipc/frames.ts";
import { readClient } from "./read_client.ts";
import { perConnectionListener, serveInIsolate } from "../in_isolate/serve.ts";
import { toWire, type WireGeneration } from "../ipc/messages.ts";
import {
  type ChildCommand,
  type ChildNeeds,
  logNeeds,
  workerCommand,
} from "../ipc/spawn.ts";

const encoder = new TextEncoder();
const logger = log("model");
/** How long a child may take to exit after its connection ended. */
const EXIT_GRACE_MS = 5000;

let connections = 0;
/** Children alive, with their frame sender, for SIGUSR2 (log reopen). */
const live = new Map<Deno.ChildProcess, () => void>();

/**
 * What a relay child touches: the docroot and the log files, never the
 * network (but for syslog's datagram socket, see {@linkcode logNeeds}).
 */
export function relayNeeds(generation: Generation): ChildNeeds {
  const { http, log: logConfig } = generation.config;
  const logs = logNeeds(logConfig);
  return {
    net: [],
    read: [http.docroot, ...logs.read].filter((path) => path !== ""),
    write: logs.write,
    syslog: logs.syslog,
  };
}

function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `killed by ${status.signal}` : `code ${status.code}`;
}

/** Relays until the child closes its stdout; then reaps it. */
async function relay(
  child: Deno.ChildProcess,
  init: ConnInit,
  transport: Transport,
  context: ConnectionContext,
): Promise<void> {
  const writer = child.stdin.getWriter();
  // Any rejection means the child's stdin is gone: the child has exited,
  // which the relay notices when it awaits the child's status.
  const send = (type: typeof FRAME[keyof typeof FRAME], payload?: Uint8Array) =>
    writer.write(encodeFrame(type, payload)).catch(() => {});
  void send(FRAME.init, encoder.encode(JSON.stringify(init)));
  live.set(child, () => void send(FRAME.reopen));
  const onDrain = () => void send(FRAME.drain);
  if (context.draining.aborted) onDrain();
  else context.draining.addEventListener("abort", onDrain);

  const up = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await readClient(transport, buffer, context);
      if (n === null) {
        await send(FRAME.eof);
        return;
      }
      // encodeFrame copies, so the buffer can be reused at once. The write
      // resolves once the frame is in the pipe, which the child stops
      // emptying while its input is full: the flow control that keeps this
      // loop from reading a client faster than the child serves it.
      await send(FRAME.data, buffer.subarray(0, n));
    }
  })();

  const reader = child.stdout.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await transport.write(value);
    }
  } catch (error) {
    // The client went away or stalled past send_timeout (a child's stdout
    // does not fail: it ends). A bug goes on to the acceptor's log once the
    // cleanup below is done.
    if (!isConnectionError(error)) throw error;
  } finally {
    context.draining.removeEventListener("abort", onDrain);
    transport.close();
    // Cleanup of pipes the child may already have closed: any rejection
    // means "already closed", and nothing is left to deliver.
    await reader.cancel().catch(() => {});
    await up;
    await writer.close().catch(() => {});
  }
}

/** The handler the acceptor runs: one child per connection. */
function processHandler(
  generation: Generation,
  protocol: string,
  state: DaemonState,
  onLoss: ModelContext["onLoss"],
): Handler {
  const wire: WireGeneration = toWire(generation);
  let command: ChildCommand | undefined;
  return async (transport, context) => {
    const tag = `c${++connections}`;
    let child: Deno.ChildProcess;
    try {
      command ??= workerCommand("conn", relayNeeds(generation));
      child = new Deno.Command(command.command, {
        args: command.args,
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      logger.error("cannot start a process for {peer}: {error}", {
        peer: context.info.peer,
        error: (error as Error).message,
      });
      transport.close();
      return;
    }
    const init = {
      tag,
      protocol,
      generation: wire,
      info: context.info,
      ready: state.ready !== false,
    } as ConnInit;
    try {
      await relay(child, init, transport, context);
    } finally {
      // Reap, even a child that ignores its closed pipes.
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch (error) {
          // Exited meanwhile: Deno throws TypeError "Child process has
          // already terminated" (checked on Deno 2.9.6). Anything else is
          // logged: a timer must not throw.
          if (!(error instanceof TypeError)) {
            logger.debug("cannot kill connection process {tag}: {error}", {
              tag,
              error: (error as Error)?.message ?? String(error),
            });
          }
        }
      }, EXIT_GRACE_MS);
      const status = await child.status;
      clearTimeout(timer);
      live.delete(child);
      if (!status.success) {
        logger.warn("connection process {tag} (pid {pid}) exited with {how}", {
          tag,
          pid: child.pid,
          how: describeExit(status),
        });
        // Its one connection was cut, unless a drain's deadline did it
        // (the stop's own event counts those).
        if (!context.draining.aborted) {
          onLoss?.("crash", {
            refused: 0,
            cut: 1,
            undelivered: 1,
            closed: 0,
          }, status.signal ?? `exit ${status.code}`);
        }
      }
    }
  };
}

/** The process-per-connection model. */
export const processPerConnection: Model = {
  name: "process-per-connection",
  start(context: ModelContext) {
    // Fail at start, not per connection, when children cannot be started.
    workerCommand("conn", relayNeeds(context.generation));
    const protocol = context.spec.listener.protocol;
    const running = serveInIsolate(context, {
      concurrency: 0,
      handler: (generation) =>
        processHandler(generation, protocol, context.state, context.onLoss),
    });
    return Promise.resolve(perConnectionListener(running, () => {
      for (const reopen of live.values()) reopen();
    }));
  },
};
