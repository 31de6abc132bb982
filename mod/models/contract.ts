/**
 * The model contract: a concurrency model takes one listener and serves it
 * with the protocol's handler — in this isolate, in workers, or in child
 * processes. The daemon talks to every model through {@linkcode Model} and
 * {@linkcode RunningListener} only.
 *
 * @module
 */
import type { Address } from "../config/address.ts";
import type { Config, ListenerConfig, ModelName } from "../config/settings.ts";
import type { AccessRecord, DaemonState } from "../protocols/contract.ts";
import type { AphorismTable } from "../protocols/zen/aphorisms.ts";
import type { LossCounts } from "../metrics/ledger.ts";

/** One configuration generation: what a reload replaces as a whole. */
export interface Generation {
  config: Config;
  aphorisms: AphorismTable;
}

/** A listener as the daemon hands it to a model. */
export interface ListenerSpec {
  /** Position in `config.listener` (stable name for logs: `listener[0]`). */
  index: number;
  listener: ListenerConfig;
  address: Address;
}

/** What a model needs from the daemon. */
export interface ModelContext {
  spec: ListenerSpec;
  /** The generation in force now. */
  generation: Generation;
  /** Daemon state (draining) shared with protocols. */
  state: DaemonState;
  /** Access-log sink. */
  access(record: AccessRecord): void;
  /**
   * Reports a worker that crashed or was recycled (max_requests, scaled
   * down), with what its connections came to, for the ledger of lost
   * connections (`metrics/ledger.ts`). Models with workers only.
   */
  onLoss?: (
    kind: "crash" | "recycle",
    counts: LossCounts,
    reason: string,
  ) => void;
  /**
   * Called once when the listener cannot go on — its workers keep dying at
   * boot (a crash loop). The daemon stops and exits with code 3.
   */
  onFatal?: (reason: string) => void;
}

/**
 * Thrown by {@linkcode Model.start} when workers keep dying before they
 * finish booting; the CLI maps it to exit code 3 (DESIGN §2).
 */
export class CrashLoopError extends Error {
  /** Creates the error; `message` is the one log line explaining it. */
  constructor(message: string) {
    super(message);
    this.name = "CrashLoopError";
  }
}

/** One worker of a pooled or per-connection model, as stats report it. */
export interface WorkerStats {
  /** Worker tag as in log lines: `w3`. */
  tag: string;
  /** Process id (the master's own pid for threads). */
  pid: number;
  /** Milliseconds since the worker was started. */
  uptimeMs: number;
  /** `booting`, `ready` or `retiring` (draining before it exits). */
  state: "booting" | "ready" | "retiring";
  /** Connections open in the worker, as of its last heartbeat. */
  connections: number;
  /** Connections it has accepted since it started. */
  served: number;
  /** When it started (ms since the epoch). */
  startedAt: number;
  /** How many workers before it in its line exited unexpectedly and were replaced. */
  restarts: number;
}

/** Counters a running listener reports. */
export interface ListenerStats {
  /** Connections open now. */
  connections: number;
  /** Workers alive (1 for in-isolate models). */
  workers: number;
  /** Workers started to replace ones that exited unexpectedly. */
  restarts?: number;
  /** Per-worker detail for pooled models. */
  pool?: WorkerStats[];
}

/** A listener being served. */
export interface RunningListener {
  /** Live counters. */
  stats(): ListenerStats;
  /** Applies a new generation to connections accepted from now on. */
  update(generation: Generation): Promise<void>;
  /**
   * Stops accepting, lets in-flight work finish, closes idle connections,
   * and forces what is left after `timeoutMs`. Resolves to the count forced.
   */
  drain(timeoutMs: number): Promise<number>;
  /**
   * Readiness probes answer 503 from now on (`false`: the daemon is about
   * to drain, `drain_delay`, or a reload is moving a listener), or 200
   * again (`true`: the move is done). Present only on models whose workers
   * keep a state of their own (in-isolate models read the daemon's).
   */
  setReady?(ready: boolean): void;
  /**
   * Adds (`delta > 0`) or retires (`delta < 0`) workers: SIGTTIN/SIGTTOU.
   * Present only on models with a worker pool; never goes below one worker.
   */
  scale?(delta: number): Promise<void>;
  /**
   * Asks workers that write their own log lines to reopen the log file
   * (the daemon reopens its own first). Present only on models with
   * workers; the word travels by message, never by signal.
   */
  reopen?(): void;
}

/** A concurrency model. */
export interface Model {
  name: ModelName;
  /** Binds and starts serving; rejects if the address cannot be bound. */
  start(context: ModelContext): Promise<RunningListener>;
}
