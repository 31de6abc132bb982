/**
 * Fifteen minutes of per-second samples for the status page's charts: a
 * ring of {@linkcode HISTORY_SECONDS} slots that the master fills once a
 * second from the daemon-wide snapshot. Each sample holds what happened in
 * that second (requests per second, p50 and p99 from the latency
 * histogram's bucket deltas, connections accepted per second per worker)
 * and what stood at its end (open connections, per worker too; the
 * cumulative worker restarts and lost connections). It keeps the
 * cumulative request and bucket counts too, so the rates over the last
 * minute (the page's tiles, `History.window`) come from the same ring.
 *
 * A worker's "load" is two numbers: the connections it has open and the
 * connections it accepted in that second. Workers report no request count
 * of their own, and `served` counts connections accepted.
 *
 * @module
 */
import type { MetricsSnapshot } from "./registry.ts";
import {
  bucketCounts,
  quantileMs,
  requestCount,
  type WindowStats,
} from "./window.ts";

/** How many seconds the history keeps. */
export const HISTORY_SECONDS = 900;

/** What one worker reported at a sample. */
export interface WorkerLoad {
  /** Connections open in the worker now. */
  connections: number;
  /** Connections it has accepted since it started (cumulative). */
  accepted: number;
}

/** What the master saw at one tick. */
export interface HistoryInput {
  /** When (ms since the epoch). */
  at: number;
  /** The daemon-wide metrics (cumulative). */
  snapshot: MetricsSnapshot;
  /** Connections open on every listener. */
  connections: number;
  /** Worker tag (`w3`, `main`) → its load. */
  workers: Record<string, WorkerLoad>;
}

/** One worker's columns; `null` where it did not exist or had no earlier sample. */
export interface WorkerHistory {
  tag: string;
  /** Connections open at each second. */
  connections: (number | null)[];
  /** Connections accepted per second. */
  accepted: (number | null)[];
}

/**
 * The history as columns, oldest first, one entry a second: what
 * `/status.json` carries. p50 and p99 are `null` for a second without a
 * finished request.
 */
export interface HistoryColumns {
  /** Time of the first entry (ms since the epoch). */
  start: number;
  /** Time of the last entry (ms since the epoch). */
  end: number;
  /** Milliseconds between entries (nominal). */
  step: number;
  /** Entries the ring holds when full: the charts' time axis spans `size * step`. */
  size: number;
  /** Requests per second (HTTP requests, Zen answers, echo connections), 0.1 precision. */
  rps: number[];
  /** Median request duration in that second, ms (bucket upper bound). */
  p50: (number | null)[];
  /** 99th percentile of request duration in that second, ms (bucket upper bound). */
  p99: (number | null)[];
  /** Connections open. */
  connections: number[];
  /** Worker restarts since the daemon started (cumulative). */
  restarts: number[];
  /** Connections lost since the daemon started (cumulative). */
  lost: number[];
  /** Per-worker load, in the order the workers first appeared. */
  workers: WorkerHistory[];
}

interface Sample {
  at: number;
  /** Requests so far (cumulative), for the rates. */
  requests: number;
  /** Request duration counts per bucket so far (cumulative), for the quantiles. */
  buckets: number[];
  rps: number;
  p50: number | null;
  p99: number | null;
  connections: number;
  restarts: number;
  lost: number;
  /** Each worker's load; `served` is its cumulative accept count. */
  workers: Record<
    string,
    { connections: number; accepted: number | null; served: number }
  >;
}

/** Counter families the history sums. */
const RESTARTS = "koan_worker_restarts_total";
const LOST = "koan_lost_connections_total";

/** Sum of a counter family (`name` and `name{...}`). */
function counterSum(snapshot: MetricsSnapshot, name: string): number {
  let total = 0;
  for (const [key, value] of Object.entries(snapshot.counters)) {
    if (key === name || key.startsWith(`${name}{`)) total += value;
  }
  return total;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Most worker lines the history gives: every live worker's, then those of
 * the workers gone most recently. Recycling (`max_requests`) can start a
 * worker a second; their lines would grow the report without bound.
 */
export const MAX_WORKER_LINES = 16;

/** The workers to draw, in the order they first appeared. */
function workerTags(samples: readonly Sample[]): string[] {
  const lastSeen = new Map<string, number>();
  samples.forEach((sample, i) => {
    for (const tag of Object.keys(sample.workers)) lastSeen.set(tag, i);
  });
  const end = samples.length - 1;
  const gone = [...lastSeen].filter(([, i]) => i < end)
    .sort((a, b) => b[1] - a[1]);
  const live = lastSeen.size - gone.length;
  const dropped = new Set(
    gone.slice(Math.max(0, MAX_WORKER_LINES - live)).map(([tag]) => tag),
  );
  return [...lastSeen.keys()].filter((tag) => !dropped.has(tag));
}

/** The last {@linkcode HISTORY_SECONDS} seconds, one sample a second. */
export class History {
  #slots: (Sample | undefined)[];
  /** Index the next sample goes to. */
  #next = 0;
  #count = 0;
  #columns: HistoryColumns | undefined;

  /** `size` is how many samples are kept. @default {HISTORY_SECONDS} */
  constructor(size: number = HISTORY_SECONDS) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot keep a history of "${size}" samples`);
    }
    this.#slots = new Array(size).fill(undefined);
  }

  /** Samples kept (at most the size). */
  get length(): number {
    return this.#count;
  }

  /**
   * Adds a tick. The first tick only sets the baseline the next one's
   * rates are measured from; it is kept with rates of zero.
   */
  push(input: HistoryInput): void {
    const requests = requestCount(input.snapshot);
    const buckets = bucketCounts(input.snapshot);
    const previous = this.#sample(this.#count - 1);
    const seconds = previous
      ? Math.max(0.001, (input.at - previous.at) / 1000)
      : 0;
    const delta = previous
      ? buckets.map((n, i) => Math.max(0, n - (previous.buckets[i] ?? 0)))
      : [];
    const workers: Sample["workers"] = {};
    for (const [tag, load] of Object.entries(input.workers)) {
      const before = previous?.workers[tag];
      workers[tag] = {
        connections: load.connections,
        accepted: before
          ? round1(Math.max(0, load.accepted - before.served) / seconds)
          : null,
        served: load.accepted,
      };
    }
    this.#store({
      at: input.at,
      requests,
      buckets,
      rps: previous
        ? round1(Math.max(0, requests - previous.requests) / seconds)
        : 0,
      p50: quantileMs(delta, 0.5),
      p99: quantileMs(delta, 0.99),
      connections: input.connections,
      restarts: counterSum(input.snapshot, RESTARTS),
      lost: counterSum(input.snapshot, LOST),
      workers,
    });
  }

  /**
   * Requests per second, p50 and p99 over the last `spanMs` (the status
   * page's tiles: the last minute), from the oldest sample that span
   * reaches back to; zeros before there are two samples.
   */
  window(spanMs = 60_000): WindowStats {
    const last = this.#sample(this.#count - 1);
    let first = last;
    for (let i = this.#count - 2; i >= 0; i--) {
      const sample = this.#sample(i)!;
      if (last!.at - sample.at > spanMs) break;
      first = sample;
    }
    if (!last || !first || first === last) {
      return { seconds: 0, qps: 0, p50Ms: 0, p99Ms: 0 };
    }
    const seconds = (last.at - first.at) / 1000;
    const delta = last.buckets.map((n, i) => n - (first.buckets[i] ?? 0));
    return {
      seconds,
      qps: seconds > 0 ? (last.requests - first.requests) / seconds : 0,
      p50Ms: quantileMs(delta, 0.5) ?? 0,
      p99Ms: quantileMs(delta, 0.99) ?? 0,
    };
  }

  /** The kept samples as columns, oldest first (built once per tick). */
  columns(): HistoryColumns {
    this.#columns ??= this.#build();
    return this.#columns;
  }

  #store(sample: Sample): void {
    this.#slots[this.#next] = sample;
    this.#next = (this.#next + 1) % this.#slots.length;
    this.#count = Math.min(this.#count + 1, this.#slots.length);
    this.#columns = undefined;
  }

  /** The `i`th sample kept, oldest first. */
  #sample(i: number): Sample | undefined {
    if (i < 0 || i >= this.#count) return undefined;
    const size = this.#slots.length;
    return this.#slots[(this.#next - this.#count + i + size) % size];
  }

  #samples(): Sample[] {
    return Array.from({ length: this.#count }, (_, i) => this.#sample(i)!);
  }

  #build(): HistoryColumns {
    const samples = this.#samples();
    const tags = workerTags(samples);
    return {
      start: samples[0]?.at ?? 0,
      end: samples.at(-1)?.at ?? 0,
      step: 1000,
      size: this.#slots.length,
      rps: samples.map((s) => s.rps),
      p50: samples.map((s) => s.p50),
      p99: samples.map((s) => s.p99),
      connections: samples.map((s) => s.connections),
      restarts: samples.map((s) => s.restarts),
      lost: samples.map((s) => s.lost),
      workers: tags.map((tag) => ({
        tag,
        connections: samples.map((s) => s.workers[tag]?.connections ?? null),
        accepted: samples.map((s) => s.workers[tag]?.accepted ?? null),
      })),
    };
  }
}
