/**
 * Serving a listener from this isolate with one {@linkcode Acceptor}: the
 * shared body of `iterative` and `async`, of each worker of the pooled
 * models, and of the accepting main thread of the per-connection models
 * (which pass a handler that hands the connection to a fresh worker).
 *
 * @module
 */
import type { Handler } from "../../protocols/contract.ts";
import { createHandler } from "./env.ts";
import { protocolFor } from "../../protocols/registry.ts";
import { Acceptor, type AcceptSource } from "../../net/acceptor.ts";
import { openSource } from "../../net/listen.ts";
import { formatAddress } from "../../config/address.ts";
import {
  type AdjustableLimiter,
  type LimiterSettings,
  LocalLimiter,
} from "../../net/limiter.ts";
import type { Generation, ModelContext, RunningListener } from "../contract.ts";
import { serialGeneration } from "./serial.ts";

/** Options for {@linkcode serveInIsolate}. */
export interface InIsolateOptions {
  /**
   * Connections served at once; 0 = unlimited. With 1, idle limits are
   * capped by `serial_idle` ({@linkcode serialGeneration}).
   */
  concurrency: number;
  /** Set SO_REUSEPORT so siblings and a reload's successor can share the port. @default {false} */
  reusePort?: boolean;
  /** Accept from this instead of binding the listener's address (a pool's shared socket). */
  source?: AcceptSource;
  /** Admission control; a {@linkcode LocalLimiter} from the generation when absent. */
  limiter?: AdjustableLimiter;
  /** Wraps the bound source (the processes model asks its master before serving). */
  wrapSource?: (source: AcceptSource) => AcceptSource;
  /** Builds the handler per generation; the protocol's own handler when absent. */
  handler?: (generation: Generation) => Handler;
  /** Called once per admitted connection. */
  onConnection?: () => void;
}

/** A listener served in this isolate, with its acceptor's counters. */
export interface InIsolateListener extends RunningListener {
  /** Connections admitted since start. */
  readonly served: number;
}

/** The limiter settings a generation asks for. */
export function limitsOf(generation: Generation): LimiterSettings {
  return {
    maxConnections: generation.config.limits.max_connections,
    maxPerSource: generation.config.limits.max_per_source,
  };
}

/**
 * Binds the listener's address and serves it in this isolate.
 *
 * @throws {Deno.errors.AddrInUse} and friends when the address cannot be bound.
 */
export function serveInIsolate(
  context: ModelContext,
  options: InIsolateOptions,
): InIsolateListener {
  const { spec, state } = context;
  const protocol = protocolFor(spec.listener.protocol);
  const bound = options.source ?? openSource(spec.address, {
    reusePort: options.reusePort ?? false,
  });
  const source = options.wrapSource ? options.wrapSource(bound) : bound;
  let generation = context.generation;
  const make = options.handler ??
    ((g: Generation): Handler => createHandler(protocol, g, state));
  // One connection at a time: an idle client must not hold the only slot
  // for the protocol's full idle limit (see serial.ts).
  const build = options.concurrency === 1
    ? (g: Generation): Handler => make(serialGeneration(g))
    : make;
  let handler = build(generation);
  const limiter = options.limiter ?? new LocalLimiter(limitsOf(generation));
  let served = 0;
  const acceptor = new Acceptor(source, {
    protocol,
    handler: () => handler,
    limiter,
    concurrency: options.concurrency,
    sendTimeoutMs: () => generation.config.limits.send_timeout * 1000,
    access: context.access,
    label: formatAddress(spec.address),
    onConnection: () => {
      served++;
      options.onConnection?.();
    },
  });
  const running = acceptor.run();
  return {
    get served() {
      return served;
    },
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

/**
 * A per-connection model's listener: the main thread accepts (so
 * `max_connections` caps the workers) and every open connection is one
 * worker; `stopReopen` ends its log-reopen forwarding once drained.
 */
export function perConnectionListener(
  running: InIsolateListener,
  reopen: () => void,
): RunningListener {
  return {
    stats: () => {
      const { connections } = running.stats();
      return { connections, workers: connections };
    },
    update: (generation) => running.update(generation),
    drain: (timeoutMs: number) => running.drain(timeoutMs),
    reopen,
  };
}
