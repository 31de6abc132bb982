/**
 * Rates over the last minute from cumulative snapshots: the master takes a
 * merged snapshot every second, and QPS, p50 and p99 come from the difference
 * between now and a minute ago.
 *
 * @module
 */
import { LATENCY_BUCKETS, type MetricsSnapshot } from "./registry.ts";

/** What the last minute looked like. */
export interface WindowStats {
  /** Seconds the window covers (up to 60). */
  seconds: number;
  /** Requests per second (HTTP requests + Zen answers + echo connections). */
  qps: number;
  /** Median request duration, ms (bucket upper bound; 0 with no request). */
  p50Ms: number;
  /** 99th percentile of request duration, ms (bucket upper bound; 0 with no request). */
  p99Ms: number;
}

/**
 * Requests so far: HTTP requests and Zen answers (`koan_requests_total`)
 * plus echo connections closed (echo has no requests of its own).
 *
 * @example Usage
 * ```ts
 * import { requestCount } from "./window.ts";
 * const n = requestCount({
 *   counters: { 'koan_requests_total{protocol="zen",status="answered"}': 3 },
 *   gauges: {},
 *   histograms: {},
 * });
 * if (n !== 3) throw new Error("not counted");
 * ```
 */
export function requestCount(snapshot: MetricsSnapshot): number {
  let total = 0;
  for (const [key, value] of Object.entries(snapshot.counters)) {
    if (key.startsWith("koan_requests_total")) total += value;
    else if (
      key.startsWith('koan_connections_closed_total{outcome="') &&
      key.includes('protocol="echo"')
    ) {
      total += value;
    }
  }
  return total;
}

/** Request duration counts per bucket (+Inf last), every protocol added up. */
export function bucketCounts(snapshot: MetricsSnapshot): number[] {
  const counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  for (const [key, state] of Object.entries(snapshot.histograms)) {
    if (!key.startsWith("koan_request_duration_seconds")) continue;
    state.counts.forEach((n, i) => counts[i]! += n);
  }
  return counts;
}

/**
 * The `q` quantile (0..1) of bucket counts, in ms, as the upper bound of
 * the bucket it falls in; `null` when the counts are empty. The +Inf
 * bucket reads as the largest finite bound, so the value stays a number
 * JSON can carry.
 *
 * @example Usage
 * ```ts
 * import { quantileMs } from "./window.ts";
 * // 0.5 ms bucket: 98 requests; 250 ms bucket: 2.
 * const counts = [98, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
 * if (quantileMs(counts, 0.99) !== 250) throw new Error("wrong p99");
 * if (quantileMs(counts, 0.5) !== 0.5) throw new Error("wrong p50");
 * ```
 */
export function quantileMs(
  counts: readonly number[],
  q: number,
): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const target = Math.max(1, Math.ceil(total * q));
  let index = 0;
  for (let running = counts[0]!; running < target; running += counts[index]!) {
    index++;
  }
  const bound = LATENCY_BUCKETS[Math.min(index, LATENCY_BUCKETS.length - 1)]!;
  return bound * 1000;
}

/** Keeps a minute of per-second snapshots. */
export class MinuteWindow {
  #samples: { at: number; snapshot: MetricsSnapshot }[] = [];
  #span: number;

  /** `spanMs` is the window length. @default {60000} */
  constructor(spanMs = 60_000) {
    this.#span = spanMs;
  }

  /** Adds a snapshot taken at `at` (ms, monotonic). */
  push(snapshot: MetricsSnapshot, at = performance.now()): void {
    this.#samples.push({ at, snapshot });
    while (
      this.#samples.length > 2 && at - this.#samples[1]!.at >= this.#span
    ) {
      this.#samples.shift();
    }
  }

  /** Rates between the oldest and newest snapshot kept. */
  stats(): WindowStats {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last === first) {
      return { seconds: 0, qps: 0, p50Ms: 0, p99Ms: 0 };
    }
    const seconds = (last.at - first.at) / 1000;
    const requests = requestCount(last.snapshot) - requestCount(first.snapshot);
    const then = bucketCounts(first.snapshot);
    const delta = bucketCounts(last.snapshot).map((n, i) => n - (then[i] ?? 0));
    return {
      seconds,
      qps: seconds > 0 ? requests / seconds : 0,
      p50Ms: quantileMs(delta, 0.5) ?? 0,
      p99Ms: quantileMs(delta, 0.99) ?? 0,
    };
  }
}
