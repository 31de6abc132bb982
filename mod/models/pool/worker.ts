/**
 * The body of one pool worker, the same in a thread and in a child
 * process: configure logging with the worker's tag, accept from the pool's
 * shared listening socket (or, where that is unavailable, bind one of its
 * own with SO_REUSEPORT), serve it with an {@linkcode Acceptor} of the
 * configured concurrency, heartbeat to the master with this worker's
 * metrics, and ask to be recycled after `max_requests` connections.
 *
 * A worker is a small daemon of its own, so it writes its own log and
 * access lines (tagged `w3` with its pid) instead of shipping every record
 * to the master.
 *
 * @module
 */
import { accessStats, writeAccess } from "../../log/access_log.ts";
import { formatAddress } from "../../config/address.ts";
import { flushLogs, log, reopenLogs, setupLogging } from "../../log/log.ts";
import { exportAccessLogLosses } from "../../metrics/access_losses.ts";
import { setRemote } from "../../metrics/aggregate.ts";
import { setRemoteStatus } from "../../metrics/status.ts";
import type { AcceptSource } from "../../net/acceptor.ts";
import { FdAcceptSource, type FdSourceOptions } from "../../net/fd_accept.ts";
import { metrics } from "../../metrics/registry.ts";
import type { AdjustableLimiter, Refusal } from "../../net/limiter.ts";
import type { Generation } from "../contract.ts";
import { type InIsolateListener, serveInIsolate } from "../in_isolate/serve.ts";
import type { FromWorker, PoolInit, ToWorker } from "../ipc/messages.ts";
import type { ListenerSpec } from "../contract.ts";
import { ConfigError } from "../../config/error.ts";
import {
  describeCertificate,
  loadTlsContext,
  useTlsContext,
} from "../../net/tls.ts";

/** What the worker's host (thread or process entry) provides. */
export interface PoolWorkerHost {
  /** `thread` or `process`, for the log. */
  kind: "thread" | "process";
  /** Sends a message to the master. */
  send(message: FromWorker): void;
  /** Admission control shared with siblings (threads); local when absent. */
  limiter?: AdjustableLimiter;
  /** Wraps the bound source (processes ask the master before serving). */
  wrapSource?: (source: AcceptSource) => AcceptSource;
  /** How this worker gives back connections it has no room for (shared socket). */
  handBack?: FdSourceOptions["handBack"];
}

/** Daemon state as this worker sees it; probes are counted by the master. */
class WorkerState {
  draining = false;
  ready = true;
  #host: PoolWorkerHost;

  constructor(host: PoolWorkerHost) {
    this.#host = host;
  }

  probed(): void {
    this.#host.send({ t: "probe" });
  }
}

/** One running pool worker. */
export class PoolWorker {
  #running: InIsolateListener;
  #state: WorkerState;
  #beat: ReturnType<typeof setInterval>;
  #drained: Promise<number> | undefined;
  #shared: FdAcceptSource | undefined;
  #spec: ListenerSpec;

  private constructor(
    running: InIsolateListener,
    state: WorkerState,
    beat: ReturnType<typeof setInterval>,
    shared: FdAcceptSource | undefined,
    spec: ListenerSpec,
  ) {
    this.#running = running;
    this.#state = state;
    this.#beat = beat;
    this.#shared = shared;
    this.#spec = spec;
  }

  /**
   * Boots the worker and tells the master `ready`, or `boot-error` and
   * returns undefined when the listener cannot be bound (or its TLS
   * certificate cannot be read).
   */
  static async start(
    init: PoolInit,
    host: PoolWorkerHost,
  ): Promise<PoolWorker | undefined> {
    setupLogging(init.generation.config.log, { tag: init.tag });
    // Access lines this worker fails to write travel in its heartbeats.
    exportAccessLogLosses(accessStats());
    const logger = log("worker");
    // TLS ends in the worker that accepts: it reads the certificate itself
    // (the master checked the same files a moment ago), before serving.
    try {
      await loadTls(init.spec);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.error("cannot serve TLS: {error}", { error: error.message });
      await flushLogs();
      host.send({ t: "boot-error", message: error.message, bind: false });
      return undefined;
    }
    const state = new WorkerState(host);
    const limit = init.maxRequests;
    let running: InIsolateListener;
    let shared: FdAcceptSource | undefined;
    try {
      if (init.listenFd !== undefined || init.dispatched) {
        shared = new FdAcceptSource({
          ...(init.listenFd === undefined ? {} : { fd: init.listenFd }),
          concurrency: init.concurrency,
          ...(host.handBack ? { handBack: host.handBack } : {}),
          onSlots: (free, adopted) => host.send({ t: "slots", free, adopted }),
        });
      }
      running = serveInIsolate({
        spec: init.spec,
        generation: init.generation,
        state,
        access: writeAccess,
      }, {
        concurrency: init.concurrency,
        reusePort: true,
        ...(shared ? { source: shared } : {}),
        ...(host.limiter ? { limiter: host.limiter } : {}),
        ...(host.wrapSource ? { wrapSource: host.wrapSource } : {}),
        onConnection: () => {
          if (limit > 0 && running.served === limit) {
            host.send({ t: "recycle", served: limit });
          }
        },
      });
    } catch (error) {
      const message = (error as Error).message;
      logger.error("cannot listen on {address}: {error}", {
        address: formatAddress(init.spec.address),
        error: message,
      });
      flushLogs();
      host.send({ t: "boot-error", message, bind: true });
      return undefined;
    }
    logger.info(
      "{tag} accepting on {address} ({kind}, concurrency {concurrency}, {socket})",
      {
        tag: init.tag,
        address: formatAddress(init.spec.address),
        kind: host.kind,
        concurrency: init.concurrency || "unlimited",
        socket: init.dispatched
          ? "shared socket, via the master"
          : shared
          ? "shared socket"
          : "own SO_REUSEPORT socket",
      },
    );
    host.send({ t: "ready" });
    const beat = () =>
      host.send({
        t: "beat",
        connections: running.stats().connections,
        served: running.served,
        metrics: metrics.snapshot(),
      });
    beat();
    return new PoolWorker(
      running,
      state,
      setInterval(beat, init.beatMs),
      shared,
      init.spec,
    );
  }

  /**
   * A connection the master passed over from a sibling (shared socket);
   * `force`: keep it even when full (the master's queue at a drain).
   */
  adopt(
    connection: Parameters<FdAcceptSource["adopt"]>[0],
    force = false,
  ): boolean {
    if (!this.#shared) return false;
    this.#shared.adopt(connection, force);
    return true;
  }

  /** Whether the master holds handed-back connections (take those first). */
  masterQueue(waiting: boolean): void {
    this.#shared?.setMasterQueue(waiting);
  }

  /**
   * Applies a new generation (logging included) to new connections, and
   * reads the TLS certificate again: the master has just accepted the
   * files; should they have changed since and be unusable, this worker
   * says so and keeps serving the certificate it has.
   */
  async update(generation: Generation, tag: string): Promise<void> {
    setupLogging(generation.config.log, { tag });
    try {
      await loadTls(this.#spec);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log("worker").error("TLS certificate kept: {error}", {
        error: error.message,
      });
    }
    await this.#running.update(generation);
  }

  /** Readiness probes answer 503 (`false`) or 200 (`true`) from now on. */
  setReady(ready: boolean): void {
    this.#state.ready = ready;
  }

  /** Drains once; later calls share the first drain. Resolves to the count forced. */
  drain(timeoutMs: number): Promise<number> {
    this.#drained ??= (async () => {
      this.#state.draining = true;
      const forced = await this.#running.drain(timeoutMs);
      clearInterval(this.#beat);
      await flushLogs();
      return forced;
    })();
    return this.#drained;
  }
}

/**
 * Reads and installs the listener's TLS certificate and key, if it has
 * them; a pair that did not change is kept as it is.
 *
 * @throws {ConfigError} naming the file that cannot be used.
 */
async function loadTls(spec: ListenerSpec): Promise<void> {
  if (!spec.listener.tls_cert) return;
  const context = await loadTlsContext(spec.listener, {
    name: `listener[${spec.index}]`,
  });
  if (useTlsContext(context)) {
    log("worker").debug("TLS certificate {certificate}", {
      certificate: describeCertificate(context),
    });
  }
}

/**
 * How one kind of worker (a thread, a child process) acts on the messages
 * that differ between them; {@linkcode dispatchToWorker} does the rest.
 */
export interface WorkerSide<G> {
  /** The pool worker, once `init` has started it. */
  readonly worker: PoolWorker | undefined;
  /** Starts the worker; resolves to an exit code when it cannot boot. */
  init(message: PoolInit<G>): number | undefined | Promise<number | undefined>;
  /** Serves `generation` from now on. */
  update(generation: G): void | Promise<void>;
  /**
   * Drains, then says `drained`; `handed` is how many connections the
   * master had passed over by then (processes wait for the last of them).
   */
  drain(timeoutMs: number, handed?: number): void;
  /** Threads: a connection passed over as a descriptor (`force`: see {@linkcode PoolWorker.adopt}). */
  conn?(fd: number, force: boolean): void;
  /** Processes: the master's answer to an admission question. */
  admitted?(seq: number, refusal: Refusal | undefined): void;
}

/**
 * Acts on one message from the master: the one switch both threads and
 * child processes run. Resolves to an exit code when the worker must stop.
 */
export async function dispatchToWorker<G>(
  message: ToWorker<G>,
  side: WorkerSide<G>,
): Promise<number | undefined> {
  switch (message.t) {
    case "init":
      return await side.init(message);
    case "update":
      await side.update(message.generation);
      break;
    case "drain":
      side.drain(message.timeoutMs, message.handed);
      break;
    case "reopen":
      reopenLogs();
      break;
    case "readiness":
      side.worker?.setReady(message.ready);
      break;
    case "queued":
      side.worker?.masterQueue(message.waiting);
      break;
    case "metrics":
      setRemote(message.snapshot);
      setRemoteStatus(message.status);
      break;
    case "conn":
      side.conn?.(message.fd, message.force ?? false);
      break;
    case "admitted":
      side.admitted?.(message.seq, message.refusal ?? undefined);
      break;
  }
  return undefined;
}
