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
}

/** Counters a running listener reports. */
export interface ListenerStats {
  /** Connections open now. */
  connections: number;
  /** Workers alive (1 for in-isolate models). */
  workers: number;
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
}

/** A concurrency model. */
export interface Model {
  name: ModelName;
  /** Binds and starts serving; rejects if the address cannot be bound. */
  start(context: ModelContext): Promise<RunningListener>;
}
