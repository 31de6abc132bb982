/**
 * Serving a listener from this isolate with one {@linkcode Acceptor}: the
 * shared body of `iterative` and `async`, and of each worker of the pooled
 * models.
 *
 * @module
 */
import type { Handler } from "../protocols/contract.ts";
import { protocolEnv } from "./env.ts";
import { protocolFor } from "../protocols/registry.ts";
import { Acceptor } from "../net/acceptor.ts";
import { openSource } from "../net/listen.ts";
import { LocalLimiter } from "../net/limiter.ts";
import type { Generation, ModelContext, RunningListener } from "./contract.ts";

/** Options for {@linkcode serveInIsolate}. */
export interface InIsolateOptions {
  /** Connections served at once; 0 = unlimited. */
  concurrency: number;
  /** Set SO_REUSEPORT so siblings and a reload's successor can share the port. @default {false} */
  reusePort?: boolean;
}

function limitsOf(generation: Generation) {
  return {
    maxConnections: generation.config.limits.max_connections,
    maxPerSource: generation.config.limits.max_per_source,
  };
}

/** Binds the listener's address and serves it in this isolate. */
export function serveInIsolate(
  context: ModelContext,
  options: InIsolateOptions,
): RunningListener {
  const { spec, state } = context;
  const protocol = protocolFor(spec.listener.protocol);
  const source = openSource(spec.address, {
    reusePort: options.reusePort ?? false,
  });
  let generation = context.generation;
  const build = (g: Generation): Handler =>
    protocol.create(protocolEnv(g, state));
  let handler = build(generation);
  const limiter = new LocalLimiter(limitsOf(generation));
  const acceptor = new Acceptor(source, {
    protocol,
    handler: () => handler,
    limiter,
    concurrency: options.concurrency,
    sendTimeoutMs: () => generation.config.limits.send_timeout * 1000,
    access: context.access,
  });
  const running = acceptor.run();
  return {
    stats: () => ({ connections: acceptor.connections, workers: 1 }),
    update(next: Generation): Promise<void> {
      generation = next;
      handler = build(next);
      limiter.update(limitsOf(next));
      return Promise.resolve();
    },
    async drain(timeoutMs: number): Promise<number> {
      const forced = await acceptor.drain(timeoutMs);
      await running;
      return forced;
    },
  };
}
