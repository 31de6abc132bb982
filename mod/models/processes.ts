/**
 * `processes`: N preforked child processes of this same program (nginx,
 * gunicorn), each binding its own SO_REUSEPORT listener and serving it with
 * the configured `concurrency`. The master binds nothing for the listener;
 * it supervises through the {@linkcode Pool} and holds the listener's one
 * limiter, which children consult per connection (see `limiter.ts`).
 *
 * A child talks to the master in JSON lines over its stdin/stdout and logs
 * to the inherited stderr with its own tag and pid. It exits when its stdin
 * closes, so even a SIGKILLed master leaves no orphans.
 *
 * @module
 */
import { log } from "../log/log.ts";
import { LocalLimiter } from "../net/limiter.ts";
import type {
  Generation,
  Model,
  ModelContext,
  RunningListener,
} from "./contract.ts";
import { limitsOf } from "./in_isolate.ts";
import { LineChannel } from "./line_channel.ts";
import {
  type FromWorker,
  toWire,
  type ToWorker,
  type WireGeneration,
} from "./messages.ts";
import { Pool, type SpawnWorker, type WorkerExit } from "./pool.ts";
import { type ChildNeeds, netNeed, workerCommand } from "./spawn.ts";
import { effectiveWorkers } from "./threads.ts";

/** What a pool child touches: its address, the docroot and the log file. */
function poolNeeds(context: ModelContext, generation: Generation): ChildNeeds {
  const { http, log: logConfig } = generation.config;
  const { hostname, port } = context.spec.address;
  return {
    net: [netNeed(hostname, port)],
    read: [http.docroot, logConfig.file].filter((path) => path !== ""),
    write: [logConfig.file].filter((path) => path !== ""),
  };
}

const wireCache = new WeakMap<Generation, WireGeneration>();

function wire(generation: Generation): WireGeneration {
  let cached = wireCache.get(generation);
  if (!cached) {
    cached = toWire(generation);
    wireCache.set(generation, cached);
  }
  return cached;
}

/** The processes model. */
export const processes: Model = {
  name: "processes",
  async start(context: ModelContext): Promise<RunningListener> {
    const { spec } = context;
    const name = `listener[${spec.index}] (processes)`;
    // Fail now, with the reason, if children cannot be started at all.
    workerCommand("pool", poolNeeds(context, context.generation));
    const limiter = new LocalLimiter(limitsOf(context.generation));
    const logger = log("pool");

    const spawn: SpawnWorker = (request, onMessage) => {
      const command = workerCommand(
        "pool",
        poolNeeds(context, request.generation),
      );
      const child = new Deno.Command(command.command, {
        args: command.args,
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const channel = new LineChannel<FromWorker, ToWorker<WireGeneration>>(
        child.stdout,
        child.stdin,
      );
      // Connections this child holds places for, to give back if it dies.
      const held = new Map<string, number>();
      const send = (message: ToWorker) => {
        if (message.t === "init" || message.t === "update") {
          channel.send({ ...message, generation: wire(message.generation) });
        } else {
          channel.send(message);
        }
      };
      send({
        t: "init",
        tag: request.tag,
        spec,
        generation: request.generation,
        concurrency: spec.listener.concurrency,
        maxRequests: request.maxRequests,
        beatMs: request.beatMs,
      });
      const listening = (async () => {
        const garbage = (line: string) =>
          logger.warn("{tag} wrote a non-message on its stdout: {line}", {
            tag: request.tag,
            line: line.slice(0, 80),
          });
        for await (const message of channel.messages(garbage)) {
          if (message.t === "admit") {
            const refusal = limiter.admit(message.source);
            if (refusal === undefined) {
              held.set(message.source, (held.get(message.source) ?? 0) + 1);
            }
            channel.send({
              t: "admitted",
              seq: message.seq,
              refusal: refusal ?? null,
            });
          } else if (message.t === "release") {
            const count = held.get(message.source) ?? 0;
            if (count > 0) {
              limiter.release(message.source);
              if (count === 1) held.delete(message.source);
              else held.set(message.source, count - 1);
            }
          } else {
            onMessage(message);
          }
        }
      })();
      const exited = child.status.then(async (status): Promise<WorkerExit> => {
        await channel.close();
        await listening;
        for (const [source, count] of held) {
          for (let i = 0; i < count; i++) limiter.release(source);
        }
        held.clear();
        return { code: status.code, signal: status.signal };
      });
      return {
        pid: child.pid,
        send,
        kill: () => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already exited.
          }
        },
        exited,
      };
    };

    const pool = new Pool({
      name,
      workers: effectiveWorkers(spec.listener.workers, "process", name),
      generation: context.generation,
      spawn,
      ...(context.onFatal ? { onFatal: context.onFatal } : {}),
    });
    await pool.start();
    return {
      stats: () => pool.stats(),
      update(generation) {
        limiter.update(limitsOf(generation));
        pool.update(generation);
        return Promise.resolve();
      },
      drain: (timeoutMs) => pool.drain(timeoutMs),
      scale: (delta) => pool.scale(delta),
    };
  },
};
