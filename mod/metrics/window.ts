/**
 * What the request counters say over a span of time: requests so far
 * (HTTP requests, Zen answers, echo connections), request duration
 * counts per bucket, and the quantile of such counts. The history
 * (`history.ts`) takes them once a second, for its charts and for the
 * rates over the last minute ({@linkcode WindowStats}).
 *
 * @module
 */
import { LATENCY_BUCKETS, type MetricsSnapshot } from "./registry.ts";

/** What a span (the last minute) looked like. */
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
