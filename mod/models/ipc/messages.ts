/**
 * What a pool's master and its workers say to each other, the same for
 * threads (postMessage) and child processes (JSON lines over stdin/stdout),
 * and the wire form of a {@linkcode Generation} for processes.
 *
 * @module
 */
import type { StatusReport } from "../../metrics/status.ts";
import type { Config } from "../../config/settings.ts";
import { makeTable } from "../../protocols/zen/aphorisms.ts";
import type { Refusal } from "../../net/limiter.ts";
import type { MetricsSnapshot } from "../../metrics/registry.ts";
import type { Generation, ListenerSpec } from "../contract.ts";

/** A generation as JSON can carry it (answers as text). */
export interface WireGeneration {
  config: Config;
  aphorisms: [string, string][];
}

const decoder = new TextDecoder();

/** Turns a generation into plain JSON data. */
export function toWire(generation: Generation): WireGeneration {
  const aphorisms: [string, string][] = [];
  for (const [question, answer] of generation.aphorisms) {
    aphorisms.push([question, decoder.decode(answer)]);
  }
  return { config: generation.config, aphorisms };
}

/** Rebuilds a generation sent with {@linkcode toWire}. */
export function fromWire(wire: WireGeneration): Generation {
  return { config: wire.config, aphorisms: makeTable(wire.aphorisms) };
}

/** First message to a pool worker: everything it needs to serve. */
export interface PoolInit<G = Generation> {
  t: "init";
  /** Tag on the worker's log lines: `w3`. */
  tag: string;
  spec: ListenerSpec;
  generation: G;
  /** Connections at once per worker; 0 = unlimited. */
  concurrency: number;
  /** Recycle after this many connections (jitter applied); 0 = never. */
  maxRequests: number;
  /** Heartbeat period in ms. */
  beatMs: number;
  /** Threads only: the listener's shared limiter and this worker's slot in it. */
  limiter?: { buffer: SharedArrayBuffer; slot: number };
  /**
   * Descriptor of the pool's shared listening socket, owned by the worker
   * (a thread's own duplicate; 3 in a child). Absent: bind a socket of
   * its own with SO_REUSEPORT.
   */
  listenFd?: number;
  /** Processes, `concurrency > 0`: serve only what the master passes over IPC. */
  dispatched?: boolean;
  /** Processes, `concurrency = 0`: the listening socket comes over IPC. */
  socketOverIpc?: boolean;
}

/** Master → worker after init. */
export type ToWorker<G = Generation> =
  | PoolInit<G>
  | { t: "update"; generation: G }
  /**
   * Stop accepting, finish, exit. `handed`: connections the master had
   * passed over to this worker by then, counted since it started
   * (processes: the last may still be on the way, on another channel).
   */
  | { t: "drain"; timeoutMs: number; handed?: number }
  | { t: "reopen" }
  /**
   * Readiness probes answer 503 (`false`: `drain_delay` began, or a reload
   * moves a listener) or 200 again (`true`) from now on.
   */
  | { t: "readiness"; ready: boolean }
  /** Processes: the master's answer to an `admit` question. */
  | { t: "admitted"; seq: number; refusal: Refusal | null }
  /**
   * Threads: a connection another worker had no room for (its descriptor);
   * `force`: one the master held when the drain began, to keep even when
   * full.
   */
  | { t: "conn"; fd: number; force?: boolean }
  /** Whether connections handed back wait in the master (take those first). */
  | { t: "queued"; waiting: boolean }
  /** The rest of the daemon's metrics (everything but this worker). */
  | { t: "metrics"; snapshot: MetricsSnapshot; status?: StatusReport };

/** Worker → master. */
export type FromWorker =
  /** Bound and serving. */
  | { t: "ready" }
  /** Could not start; `bind` when the address could not be bound. */
  | { t: "boot-error"; message: string; bind: boolean }
  /** Alive, with counters and this worker's metrics. */
  | {
    t: "beat";
    connections: number;
    served: number;
    metrics?: MetricsSnapshot;
  }
  /** Reached `max_requests`: please start my successor, then drain me. */
  | { t: "recycle"; served: number }
  /** A readiness probe answered 503 (counted toward `drain_probes`). */
  | { t: "probe" }
  /** Drain finished; `forced` connections were cut at the deadline. */
  | { t: "drained"; forced: number; metrics?: MetricsSnapshot }
  /** Shared socket: free slots changed (see `FdAcceptSource`). */
  | { t: "slots"; free: number; adopted: number }
  /** Threads: a connection this worker has no room for (its descriptor). */
  | { t: "handback"; fd: number }
  /** Processes: may I serve a connection from `source`? */
  | { t: "admit"; seq: number; source: string }
  /** Processes: a connection admitted earlier has ended. */
  | { t: "release"; source: string }
  /**
   * Processes: whole lines for the daemon's stdout (`/dev/stdout` as a log
   * destination), which the master writes to its fd 1.
   */
  | { t: "stdout"; text: string };

/** How long a child waits before handing back a late hand-over (see `processes/child.ts`). */
export const LATE_HANDBACK_MS = 100;

/** The `node:child_process` IPC message that carries a handed-back or handed-over connection. */
export interface HandMessage {
  t: "handback" | "conn" | "socket";
  /** A `conn` the master held when the drain began: keep it even when full. */
  force?: boolean;
}
