/**
 * Serving a listener from this isolate with one {@linkcode Acceptor}: the
 * shared body of `iterative` and `async`, of each worker of the pooled
 * models, and of the accepting main thread of the per-connection models
 * (which pass a handler that hands the connection to a fresh worker).
 *
 * The listener's edge (`trusted_proxies`, `proxy_protocol`) and TLS are
 * wired here, from the listener's own settings: a reload that changes
 * them replaces the listener (the daemon compares listener tables whole),
 * so a running acceptor's settings never change; a reload that keeps them
 * reaches TLS through the certificate installed last (`tls.ts`).
 *
 * @module
 */
import type { Handler } from "../../protocols/contract.ts";
import { createHandler } from "./env.ts";
import { protocolFor } from "../../protocols/registry.ts";
import {
  Acceptor,
  type AcceptSource,
  type EdgeSettings,
} from "../../net/acceptor.ts";
import { openSource } from "../../net/listen.ts";
import { tlsWrapFor } from "../../net/tls.ts";
import { formatAddress } from "../../config/address.ts";
import { CidrSet, loadCidr } from "../../config/cidr.ts";
import type { ListenerConfig } from "../../config/settings.ts";
import { log } from "../../log/log.ts";
import {
  type AdjustableLimiter,
  type LimiterSettings,
  limiterSettings,
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
  /**
   * Wraps the bound source (the processes model asks its master before
   * serving); on a `proxy_protocol` listener it wraps the connections that
   * passed the edge instead (the acceptor's `admission` step).
   */
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
  return limiterSettings(generation.config.limits);
}

/**
 * The edge a listener's settings ask for, or undefined for none (no
 * `trusted_proxies`, no `proxy_protocol`). `loadCidr()` must have been
 * awaited when `trusted_proxies` is not empty.
 */
function edgeOf(listener: ListenerConfig): EdgeSettings | undefined {
  // Either key may be missing from a listener table made by hand (tests).
  const proxyProtocol = listener.proxy_protocol === true;
  const trusted = listener.trusted_proxies ?? [];
  if (!proxyProtocol && trusted.length === 0) return undefined;
  return {
    proxyProtocol,
    trusted: trusted.length > 0 ? new CidrSet(trusted) : undefined,
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
    socketMode: spec.listener.socket_mode,
  });
  // With PROXY headers, admission must see the client a header names:
  // a source wrapper that admits (the processes master's) then runs after
  // the edge, as the acceptor's admission step, not on the bound socket.
  const proxied = spec.listener.proxy_protocol === true;
  const source = options.wrapSource && !proxied
    ? options.wrapSource(bound)
    : bound;
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
  // ipaddr.js loads (once per isolate) before the first accept when
  // trusted_proxies is set; the socket is bound already, so clients queue.
  let edge: EdgeSettings | undefined;
  const cidr = (spec.listener.trusted_proxies ?? []).length > 0
    ? loadCidr().then(() => {
      edge = edgeOf(spec.listener);
    })
    : undefined;
  if (cidr === undefined) edge = edgeOf(spec.listener);
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
    edge: () => edge,
    secure: () => tlsWrapFor(spec.listener),
    ...(options.wrapSource && proxied ? { admission: options.wrapSource } : {}),
  });
  const running = cidr === undefined ? acceptor.run() : cidr.then(
    () => acceptor.run(),
    (error) => {
      // The module is part of koan: failing to load it is a broken
      // install. Close the socket rather than serve without the edge.
      log("net").error(
        "cannot load the CIDR matcher for trusted_proxies, not serving {address}: {error}",
        {
          address: formatAddress(spec.address),
          error: (error as Error)?.message ?? String(error),
        },
      );
      acceptor.stop();
    },
  );
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
