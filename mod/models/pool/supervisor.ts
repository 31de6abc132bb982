/**
 * The supervisor of a worker pool (gunicorn's arbiter, per listener): the
 * same for threads and child processes, which differ only in how a worker
 * is spawned and talked to (see {@linkcode SpawnWorker}).
 *
 * - keeps `workers` workers alive: every unexpected exit is logged with its
 *   code, signal or error, and the worker is restarted after an
 *   exponential backoff (x1.5 from 100 ms, capped at 10 s);
 * - workers heartbeat; one silent past `limits.worker_timeout` (or not
 *   booted within its boot allowance) is killed and replaced;
 * - workers that keep dying before they finish booting are a crash loop:
 *   the pool gives up and reports it (exit code 3);
 * - a worker past `limits.max_requests` (+ up to 10% jitter, so a pool
 *   does not recycle all at once) gets a successor first, then drains;
 * - `scale()` adds or retires workers (SIGTTIN/SIGTTOU);
 * - `drain()` drains every worker, kills what outlives the deadline, and
 *   resolves only once every worker is gone (reaped);
 * - metrics: each worker's heartbeat carries its registry's snapshot; the
 *   pool's sum (plus a retired total for workers that are gone, so
 *   counters never go backwards) is a provider of `aggregate()`, and every
 *   second each worker is sent the rest of the daemon's counts, so a
 *   worker serving `/metrics` shows the whole daemon.
 *
 * @module
 */
import { currentStatus } from "../../metrics/status.ts";
import { log } from "../../log/log.ts";
import { accessStats } from "../../log/access_log.ts";
import { exportAccessLogLosses } from "../../metrics/access_losses.ts";
import {
  addSnapshotProvider,
  aggregate,
  retiredPart,
  retireSnapshot,
  startMetricsDump,
  subtractSnapshot,
} from "../../metrics/aggregate.ts";
import {
  emptySnapshot,
  mergeSnapshots,
  metrics,
  type MetricsSnapshot,
  seriesKey,
} from "../../metrics/registry.ts";
import { formatAddress } from "../../config/address.ts";
import { Backoff } from "./backoff.ts";
import { effectiveWorkers } from "./shared_socket.ts";
import {
  CrashLoopError,
  type Generation,
  type ListenerSpec,
  type ListenerStats,
  type ModelContext,
  type RunningListener,
  type WorkerStats,
} from "../contract.ts";
import { limitsOf } from "../in_isolate/serve.ts";
import type { FromWorker, PoolInit, ToWorker } from "../ipc/messages.ts";

/** How a worker ended. */
export interface WorkerExit {
  /** Exit code (processes; 0 for a thread that drained). */
  code?: number;
  /**
   * Signal that killed it (processes), or `"terminated"` (threads: Deno
   * ends a terminated worker when its current task returns, so a thread
   * stuck in a loop stops only once the loop does).
   */
  signal?: string | null;
  /** Uncaught error (threads). */
  error?: string;
}

/** What the pool tells a spawner about a new worker. */
export interface SpawnRequest {
  /** `w3`. */
  tag: string;
  /** Slot in a shared limiter; unique among live workers. */
  slot: number;
  /** Recycle after this many connections; 0 = never. */
  maxRequests: number;
  /** Heartbeat period in ms. */
  beatMs: number;
  /** Generation to serve. */
  generation: Generation;
}

/**
 * The `init` message a new worker gets, threads and processes alike; the
 * spawner adds how the worker reaches the shared socket and the limiter.
 */
export function workerInit(
  request: SpawnRequest,
  spec: ListenerSpec,
): PoolInit {
  return {
    t: "init",
    tag: request.tag,
    spec,
    generation: request.generation,
    concurrency: spec.listener.concurrency,
    maxRequests: request.maxRequests,
    beatMs: request.beatMs,
  };
}

/** A worker as its spawner exposes it. */
export interface SpawnedWorker {
  /** Process id (the master's own for a thread). */
  readonly pid: number;
  /** Sends a control message; ignored once the worker is gone. */
  send(message: ToWorker): void;
  /** Ends the worker now (SIGKILL, or terminate for a thread). */
  kill(): void;
  /** Resolves once the worker is gone and reaped. */
  readonly exited: Promise<WorkerExit>;
}

/** Starts a worker; `onMessage` receives what it says. */
export type SpawnWorker = (
  request: SpawnRequest,
  onMessage: (message: FromWorker) => void,
) => SpawnedWorker;

/**
 * A timer handle from a {@linkcode PoolClock}: opaque, only the clock that
 * made it reads it.
 */
export type TimerId = unknown;

/** What the real timers return and take. */
type RealTimer = ReturnType<typeof setTimeout>;

/**
 * Time as the pool sees it: the real clock and timers, unless a test
 * drives a fake one (every delay the pool keeps goes through here).
 */
export interface PoolClock {
  /** Monotonic milliseconds (`performance.now()`). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (`Date.now()`). */
  wall(): number;
  /** Runs `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a {@linkcode PoolClock.setTimeout}; `undefined` is ignored. */
  clearTimeout(id: TimerId): void;
  /** Runs `fn` every `ms`. */
  setInterval(fn: () => void, ms: number): TimerId;
  /** Cancels a {@linkcode PoolClock.setInterval}; `undefined` is ignored. */
  clearInterval(id: TimerId): void;
}

/** The real clock: one object for every pool. */
const REAL_CLOCK: PoolClock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  // Handles come from the two functions above.
  clearTimeout: (id) => clearTimeout(id as RealTimer | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as RealTimer | undefined),
};

/** Options for {@linkcode Pool}. */
export interface PoolOptions {
  /** For log lines: `listener[0] (threads)`. */
  name: string;
  /** Workers to keep. */
  workers: number;
  /** Generation at start. */
  generation: Generation;
  /** Starts one worker. */
  spawn: SpawnWorker;
  /** Called after a worker is gone (the threads model frees its limiter slot). */
  onGone?: (slot: number) => void;
  /** Called once on a crash loop after start. */
  onFatal?: (reason: string) => void;
  /** Called for each readiness probe a worker answered 503. */
  onProbe?: () => void;
  /** Called when a worker crashed or finished retiring (the ledger). */
  onLoss?: ModelContext["onLoss"];
  /** Most workers; limiter slots. @default {1024} */
  maxWorkers?: number;
  /** `listener` label of the pool's metrics (its address). @default {name} */
  label?: string;
  /**
   * The workers serve `/status` (HTTP): each metrics push carries the
   * status report, history and all. Others never need it. @default {false}
   */
  status?: boolean;
  /** Clock and timers; tests pass a fake one. @default {the real clock} */
  clock?: PoolClock;
}

type State = "booting" | "ready" | "retiring";

interface Member {
  id: number;
  tag: string;
  slot: number;
  worker: SpawnedWorker;
  state: State;
  startedAt: number;
  lastSeen: number;
  connections: number;
  served: number;
  /** Asked to be recycled; a successor is on its way. */
  recycling: boolean;
  /** The member this one replaces once ready (recycling). */
  replaces?: number;
  /** Connections forced closed by its drain. */
  forced?: number;
  /** Why it retires, and its connections then (the ledger's recycle event). */
  retired?: { why: string; connections: number };
  /** Retire or kill deadline. */
  timer?: TimerId;
  bootError?: { message: string; bind: boolean };
  /** Wall-clock start, for the status page. */
  startedAtWall: number;
  /** Restarts of this worker's line (a crash replaced by this one counts). */
  restarts: number;
  /** Latest metrics the worker sent. */
  metrics?: MetricsSnapshot;
  /** Counted in the `koan_workers` gauge. */
  counted: boolean;
}

/** A crash's reason as the ledger labels it: few distinct values. */
function exitReason(exit: WorkerExit): string {
  if (exit.error !== undefined) return "error";
  if (exit.signal) {
    return exit.signal === "terminated" ? "terminated" : exit.signal;
  }
  return `exit ${exit.code ?? "?"}`;
}

/** Worker ids are unique in this process, so log tags never repeat. */
let nextWorkerId = 1;

/** Boot allowance: at least this long, whatever `worker_timeout` says. */
const MIN_BOOT_MS = 30_000;
/** Extra time a draining worker gets past the deadline before it is killed. */
const KILL_GRACE_MS = 2000;
/** Workers stable this long forgive past failures (backoff resets). */
const STABLE_MS = 10_000;
/** How often workers are sent the rest of the daemon's metrics. */
const METRICS_PUSH_MS = 1000;

function describeExit(exit: WorkerExit): string {
  if (exit.error !== undefined) return `failed: ${exit.error}`;
  if (exit.signal === "terminated") return "was terminated";
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? "?"}`;
}

/** A supervised pool of workers serving one listener. */
export class Pool {
  #options: PoolOptions;
  #clock: PoolClock;
  #generation: Generation;
  #target: number;
  #members = new Map<number, Member>();
  #backoff = new Backoff();
  #lastFailureAt = 0;
  #bootFailures = 0;
  #restarts = 0;
  #draining = false;
  /** False while workers (new ones too) answer readiness 503. */
  #ready = true;
  #fatal = false;
  #respawns = new Set<TimerId>();
  #inspector: TimerId;
  #starting:
    | { resolve: () => void; reject: (error: Error) => void }
    | undefined;
  #nextSlot = 0;
  #logger = log("pool");
  /** Counts of workers that are gone. */
  #retired: MetricsSnapshot = emptySnapshot();
  #removeProvider: (() => void) | undefined;
  #pusher: TimerId;
  #workersKey: string;
  #restartsKey: string;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#generation = options.generation;
    this.#target = Math.max(1, options.workers);
    const labels = { listener: options.label ?? options.name };
    this.#workersKey = seriesKey("koan_workers", labels);
    this.#restartsKey = seriesKey("koan_worker_restarts_total", labels);
  }

  /**
   * The pool's metrics: every live worker's latest snapshot plus the
   * counts of workers that are gone.
   */
  snapshot(): MetricsSnapshot {
    const parts = [this.#retired];
    for (const member of this.#members.values()) {
      if (member.metrics) parts.push(member.metrics);
    }
    return mergeSnapshots(parts);
  }

  /** Sends each worker the daemon's metrics without its own, and the status report if it serves one. */
  #pushMetrics(): void {
    const total = aggregate();
    // The same report for every worker: /status served by a worker.
    const status = this.#options.status ? currentStatus() : undefined;
    for (const member of this.#members.values()) {
      if (member.state !== "ready" || !member.metrics) continue;
      member.worker.send({
        t: "metrics",
        snapshot: subtractSnapshot(total, member.metrics),
        ...(status ? { status } : {}),
      });
    }
  }

  get #limits() {
    return this.#generation.config.limits;
  }

  get #beatMs(): number {
    return Math.min(1000, Math.max(50, this.#limits.worker_timeout * 250));
  }

  /**
   * Starts the workers; resolves once all are serving.
   *
   * @throws {CrashLoopError} when they keep dying at boot.
   * @throws {Error} with the worker's reason when the address cannot be bound.
   */
  async start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) =>
      this.#starting = { resolve, reject }
    );
    this.#removeProvider = addSnapshotProvider(() => this.snapshot());
    // The master's own access losses (its in-isolate listeners) go into
    // the pushes, so a worker serving /metrics counts them too.
    exportAccessLogLosses(accessStats());
    startMetricsDump();
    this.#pusher = this.#clock.setInterval(
      () => this.#pushMetrics(),
      METRICS_PUSH_MS,
    );
    for (let i = 0; i < this.#target; i++) this.#spawn();
    this.#inspector = this.#clock.setInterval(
      () => this.#inspect(),
      Math.min(250, this.#beatMs),
    );
    try {
      await started;
    } catch (error) {
      this.#fatal = true;
      await this.#stopAll(0);
      throw error;
    }
    this.#logger.info("{name}: {count} workers serving", {
      name: this.#options.name,
      count: this.#target,
    });
  }

  #spawn(replaces?: number, restarts = 0): void {
    const id = nextWorkerId++;
    const tag = `w${id}`;
    const slot = this.#takeSlot();
    const limit = this.#limits.max_requests;
    const jitter = limit > 0
      ? Math.floor(Math.random() * (Math.floor(limit / 10) + 1))
      : 0;
    const now = this.#clock.now();
    const member = {
      id,
      tag,
      slot,
      state: "booting",
      startedAt: now,
      lastSeen: now,
      connections: 0,
      served: 0,
      recycling: false,
      startedAtWall: this.#clock.wall(),
      restarts,
      counted: false,
      ...(replaces === undefined ? {} : { replaces }),
    } as Member;
    try {
      member.worker = this.#options.spawn({
        tag,
        slot,
        maxRequests: limit > 0 ? limit + jitter : 0,
        beatMs: this.#beatMs,
        generation: this.#generation,
      }, (message) => this.#onMessage(member, message));
    } catch (error) {
      // Could not even start it: count as a worker that died at boot.
      member.worker = {
        pid: 0,
        send: () => {},
        kill: () => {},
        exited: Promise.resolve({ error: (error as Error).message }),
      };
    }
    this.#members.set(id, member);
    void member.worker.exited.then((exit) => this.#onExit(member, exit));
  }

  #takeSlot(): number {
    const max = this.#options.maxWorkers ?? 1024;
    const used = new Set([...this.#members.values()].map((m) => m.slot));
    // Round-robin, so a just-freed slot is not reused at once (a
    // terminated thread may still be unwinding).
    for (let i = 0; i < max; i++) {
      const slot = (this.#nextSlot + i) % max;
      if (!used.has(slot)) {
        this.#nextSlot = (slot + 1) % max;
        return slot;
      }
    }
    throw new RangeError(`No free worker slot (at most ${max} workers)`);
  }

  #onMessage(member: Member, message: FromWorker): void {
    switch (message.t) {
      case "ready":
        member.lastSeen = this.#clock.now();
        if (member.state !== "booting") return;
        member.state = "ready";
        member.counted = true;
        metrics.add(this.#workersKey, 1);
        this.#bootFailures = 0;
        if (!this.#ready) {
          member.worker.send({ t: "readiness", ready: false });
        }
        this.#onReady(member);
        return;
      case "boot-error":
        member.bootError = { message: message.message, bind: message.bind };
        if (message.bind && this.#starting) {
          this.#starting.reject(new Error(message.message));
          this.#starting = undefined;
        }
        return;
      case "beat":
        member.lastSeen = this.#clock.now();
        member.connections = message.connections;
        member.served = message.served;
        if (message.metrics) member.metrics = message.metrics;
        return;
      case "recycle":
        if (
          member.state !== "ready" || member.recycling || this.#draining ||
          this.#fatal
        ) return;
        member.recycling = true;
        this.#logger.info(
          "{tag} (pid {pid}) reached max_requests after {served} connections: recycling",
          { tag: member.tag, pid: member.worker.pid, served: message.served },
        );
        this.#spawn(member.id, member.restarts);
        return;
      case "probe":
        this.#options.onProbe?.();
        return;
      case "drained":
        member.forced = message.forced;
        if (message.metrics) member.metrics = message.metrics;
        return;
      default:
        return;
    }
  }

  #onReady(member: Member): void {
    if (member.replaces !== undefined) {
      const old = this.#members.get(member.replaces);
      if (old) this.#retire(old, "recycled");
      delete member.replaces;
    }
    if (this.#starting && this.#readyCount() >= this.#target) {
      this.#starting.resolve();
      this.#starting = undefined;
    }
  }

  #readyCount(): number {
    let n = 0;
    for (const m of this.#members.values()) if (m.state === "ready") n++;
    return n;
  }

  /** Members that count toward the target. */
  #activeCount(): number {
    let n = 0;
    for (const m of this.#members.values()) {
      if (m.state !== "retiring" && !m.recycling) n++;
    }
    return n;
  }

  #retire(member: Member, why: string): void {
    if (member.state === "retiring") return;
    member.state = "retiring";
    member.retired = { why, connections: member.connections };
    this.#logger.info("{tag} (pid {pid}) retiring ({why})", {
      tag: member.tag,
      pid: member.worker.pid,
      why,
    });
    const timeoutMs = this.#limits.shutdown_timeout * 1000;
    member.worker.send({ t: "drain", timeoutMs });
    this.#clock.clearTimeout(member.timer);
    member.timer = this.#clock.setTimeout(
      () => member.worker.kill(),
      timeoutMs + KILL_GRACE_MS,
    );
  }

  #onExit(member: Member, exit: WorkerExit): void {
    this.#clock.clearTimeout(member.timer);
    this.#members.delete(member.id);
    if (member.metrics) {
      this.#retired = mergeSnapshots([
        this.#retired,
        retiredPart(member.metrics),
      ]);
    }
    if (member.counted) metrics.add(this.#workersKey, -1);
    this.#options.onGone?.(member.slot);
    if (this.#draining) return;
    if (member.state === "retiring") {
      this.#logger.info("{tag} (pid {pid}) {how} after retiring", {
        tag: member.tag,
        pid: member.worker.pid,
        how: describeExit(exit),
      });
      // Its drain reported what it forced; one killed at the deadline
      // took what its last heartbeat counted.
      const cut = member.forced ?? member.connections;
      const open = member.retired?.connections ?? cut;
      this.#options.onLoss?.("recycle", {
        refused: 0,
        cut,
        undelivered: cut,
        closed: Math.max(0, open - cut),
        total: Math.max(open, cut),
      }, member.retired?.why ?? "retired");
      return;
    }
    const atBoot = member.state === "booting";
    // Every connection it held is cut; as of its last heartbeat.
    this.#options.onLoss?.("crash", {
      refused: 0,
      cut: member.connections,
      undelivered: member.connections,
      closed: 0,
    }, exitReason(exit));
    this.#lastFailureAt = this.#clock.now();
    if (atBoot) this.#bootFailures++;
    const threshold = Math.max(5, 2 * this.#target);
    if (atBoot && this.#bootFailures >= threshold && !this.#fatal) {
      this.#crashLoop(member, exit);
      return;
    }
    if (this.#fatal) return;
    const delay = this.#backoff.next();
    this.#logger.warn(
      "{tag} (pid {pid}) {how}{when}; restarting in {delay} ms",
      {
        tag: member.tag,
        pid: member.worker.pid,
        how: describeExit(exit),
        when: atBoot
          ? ` before it finished booting${
            member.bootError ? ` (${member.bootError.message})` : ""
          }`
          : "",
        delay,
      },
    );
    // A successor that died leaves its predecessor waiting: replace the
    // successor, not the predecessor.
    const replaces = member.replaces !== undefined &&
        this.#members.has(member.replaces)
      ? member.replaces
      : undefined;
    const timer = this.#clock.setTimeout(() => {
      this.#respawns.delete(timer);
      if (this.#draining || this.#fatal) return;
      if (replaces !== undefined || this.#activeCount() < this.#target) {
        this.#restarts++;
        metrics.inc(this.#restartsKey);
        this.#spawn(replaces, member.restarts + 1);
      }
    }, delay);
    this.#respawns.add(timer);
  }

  #crashLoop(member: Member, exit: WorkerExit): void {
    this.#fatal = true;
    const reason =
      `${this.#options.name}: workers keep dying at boot (${this.#bootFailures} in a row, last: ${member.tag} ${
        describeExit(exit)
      }${
        member.bootError ? `, ${member.bootError.message}` : ""
      }); giving up, exit code 3`;
    for (const timer of this.#respawns) this.#clock.clearTimeout(timer);
    this.#respawns.clear();
    if (this.#starting) {
      this.#starting.reject(new CrashLoopError(reason));
      this.#starting = undefined;
      return;
    }
    this.#logger.error(reason);
    this.#options.onFatal?.(reason);
  }

  #inspect(): void {
    const now = this.#clock.now();
    const timeoutMs = this.#limits.worker_timeout * 1000;
    const bootMs = Math.max(MIN_BOOT_MS, timeoutMs);
    let booting = false;
    for (const member of this.#members.values()) {
      if (member.state === "booting") {
        booting = true;
        if (now - member.startedAt > bootMs) {
          this.#logger.warn(
            "{tag} (pid {pid}) did not boot within {seconds} s: killing it",
            {
              tag: member.tag,
              pid: member.worker.pid,
              seconds: bootMs / 1000,
            },
          );
          member.worker.kill();
        }
      } else if (
        member.state === "ready" && now - member.lastSeen > timeoutMs
      ) {
        this.#logger.warn(
          "{tag} (pid {pid}) silent for {seconds} s (limits.worker_timeout = {timeout}): killing and replacing it",
          {
            tag: member.tag,
            pid: member.worker.pid,
            seconds: Math.round((now - member.lastSeen) / 100) / 10,
            timeout: this.#limits.worker_timeout,
          },
        );
        member.lastSeen = Infinity; // once
        member.worker.kill();
      }
    }
    if (
      !booting && this.#backoff.failures > 0 &&
      now - this.#lastFailureAt > STABLE_MS
    ) {
      this.#backoff.reset();
    }
  }

  /** Tells every worker to reopen its log file. */
  reopen(): void {
    for (const member of this.#members.values()) {
      member.worker.send({ t: "reopen" });
    }
  }

  /** Adds or retires workers; never fewer than one. */
  scale(delta: number): Promise<void> {
    if (this.#draining || this.#fatal || delta === 0) return Promise.resolve();
    const max = this.#options.maxWorkers ?? 1024;
    const target = Math.min(max, Math.max(1, this.#target + delta));
    const change = target - this.#target;
    this.#target = target;
    for (let i = 0; i < change; i++) this.#spawn();
    for (let i = 0; i < -change; i++) {
      const newest = [...this.#members.values()]
        .filter((m) => m.state !== "retiring" && !m.recycling)
        .sort((a, b) => b.id - a.id)[0];
      if (newest) this.#retire(newest, "scaled down");
    }
    this.#logger.info("{name}: now {count} workers", {
      name: this.#options.name,
      count: this.#target,
    });
    return Promise.resolve();
  }

  /**
   * Tells every worker, and any started from now on, that readiness is
   * 503 (`false`) or 200 again (`true`).
   */
  setReady(ready: boolean): void {
    this.#ready = ready;
    for (const member of this.#members.values()) {
      if (member.state === "ready") {
        member.worker.send({ t: "readiness", ready });
      }
    }
  }

  /** Forwards a new generation to every worker. */
  update(generation: Generation): void {
    this.#generation = generation;
    for (const member of this.#members.values()) {
      member.worker.send({ t: "update", generation });
    }
  }

  /** Drains every worker; resolves to the connections forced, once all are reaped. */
  async drain(timeoutMs: number): Promise<number> {
    this.#draining = true;
    if (this.#starting) {
      this.#starting.reject(new Error("Stopped while starting"));
      this.#starting = undefined;
    }
    return await this.#stopAll(timeoutMs);
  }

  async #stopAll(timeoutMs: number): Promise<number> {
    this.#draining = true;
    this.#clock.clearInterval(this.#inspector);
    this.#clock.clearInterval(this.#pusher);
    for (const timer of this.#respawns) this.#clock.clearTimeout(timer);
    this.#respawns.clear();
    const members = [...this.#members.values()];
    const exits = members.map((member) => member.worker.exited);
    const killed = new Set<Member>();
    for (const member of members) {
      this.#clock.clearTimeout(member.timer);
      if (member.state === "booting" || timeoutMs === 0) {
        // Not serving anyone yet: nothing to drain.
        killed.add(member);
        member.worker.kill();
        continue;
      }
      member.state = "retiring";
      member.worker.send({ t: "drain", timeoutMs });
      member.timer = this.#clock.setTimeout(() => {
        killed.add(member);
        member.worker.kill();
      }, timeoutMs + KILL_GRACE_MS);
    }
    await Promise.all(exits);
    // The listener is gone: keep what it counted in the daemon's totals.
    if (this.#removeProvider) {
      this.#removeProvider();
      this.#removeProvider = undefined;
      retireSnapshot(this.snapshot());
    }
    let forced = 0;
    for (const member of members) {
      this.#clock.clearTimeout(member.timer);
      forced += member.forced ??
        (killed.has(member) && member.state !== "booting"
          ? member.connections
          : 0);
    }
    return forced;
  }

  /** Live counters, per worker too. */
  stats(): ListenerStats {
    const now = this.#clock.now();
    const pool: WorkerStats[] = [];
    let connections = 0;
    for (const member of this.#members.values()) {
      connections += member.connections;
      pool.push({
        tag: member.tag,
        pid: member.worker.pid,
        uptimeMs: Math.round(now - member.startedAt),
        state: member.state,
        connections: member.connections,
        served: member.served,
        startedAt: member.startedAtWall,
        restarts: member.restarts,
      });
    }
    return {
      connections,
      workers: this.#readyCount(),
      restarts: this.#restarts,
      pool,
    };
  }
}

/** What differs between the pooled models, for {@linkcode runPool}. */
export interface PoolParts {
  /** For log lines: `listener[0] (threads)`. */
  name: string;
  /** What a worker is, for the platform's worker count. */
  kind: "thread" | "process";
  /** Starts one worker. */
  spawn: SpawnWorker;
  /** See {@linkcode PoolOptions.onGone}. */
  onGone?: (slot: number) => void;
  /** See {@linkcode PoolOptions.maxWorkers}. */
  maxWorkers?: number;
  /** The listener's limiter; reloads apply new limits to it. */
  limiter: { update(settings: ReturnType<typeof limitsOf>): void };
  /**
   * Hand-back routing: stops accepting when the drain begins, closed once
   * the pool has drained.
   */
  router: { stopAccepting(): void; flushAll(): void; close(): void };
  /** The shared socket, if any; released once the pool has drained. */
  lease?: { release(): void } | undefined;
}

/**
 * Starts a pool for the listener and returns it as a running listener: the
 * one shape both pooled models (`threads`, `processes`) give the daemon.
 */
export async function runPool(
  context: ModelContext,
  parts: PoolParts,
): Promise<RunningListener> {
  const { limiter, router, lease, name, spawn } = parts;
  const { spec } = context;
  const pool = new Pool({
    name,
    label: formatAddress(spec.address),
    status: spec.listener.protocol === "http",
    workers: effectiveWorkers(
      spec.listener.workers,
      parts.kind,
      name,
      lease !== undefined,
    ),
    generation: context.generation,
    spawn,
    ...(parts.onGone ? { onGone: parts.onGone } : {}),
    ...(parts.maxWorkers ? { maxWorkers: parts.maxWorkers } : {}),
    ...(context.onFatal ? { onFatal: context.onFatal } : {}),
    onProbe: () => context.state.probed?.(),
    ...(context.onLoss ? { onLoss: context.onLoss } : {}),
  });
  try {
    await pool.start();
  } catch (error) {
    router.close();
    lease?.release();
    throw error;
  }
  return {
    stats: () => pool.stats(),
    setReady: (ready) => pool.setReady(ready),
    update(generation) {
      limiter.update(limitsOf(generation));
      pool.update(generation);
      return Promise.resolve();
    },
    async drain(timeoutMs) {
      // Refuse at once: the master's descriptor (and, for the processes
      // blocking pool, its accepting handle) closes now; each worker closes
      // its own as it hears of the drain, a few ms later. Waiting for the
      // workers to finish first would leave the socket listening with no
      // one accepting, and every client queued meanwhile reset at the end.
      router.stopAccepting();
      lease?.release();
      // What the master accepted and still holds goes to the workers
      // before they hear of the drain, so they serve it.
      router.flushAll();
      const forced = await pool.drain(timeoutMs);
      router.close();
      return forced;
    },
    scale: (delta) => pool.scale(delta),
    reopen: () => pool.reopen(),
  };
}
