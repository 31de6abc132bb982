/**
 * Rates over the last minute from cumulative snapshots: the master takes a
 * merged snapshot every second, and QPS and p99 come from the difference
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
  /** 99th percentile of request duration, ms (bucket upper bound). */
  p99Ms: number;
}

function requestCount(snapshot: MetricsSnapshot): number {
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

function bucketCounts(snapshot: MetricsSnapshot): number[] {
  const counts = new Array(LATENCY_BUCKETS.length + 1).fill(0);
  for (const [key, state] of Object.entries(snapshot.histograms)) {
    if (!key.startsWith("koan_request_duration_seconds")) continue;
    state.counts.forEach((n, i) => counts[i] += n);
  }
  return counts;
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
      return { seconds: 0, qps: 0, p99Ms: 0 };
    }
    const seconds = (last.at - first.at) / 1000;
    const requests = requestCount(last.snapshot) - requestCount(first.snapshot);
    const now = bucketCounts(last.snapshot);
    const then = bucketCounts(first.snapshot);
    const delta = now.map((n, i) => n - (then[i] ?? 0));
    const total = delta.reduce((a, b) => a + b, 0);
    let p99Ms = 0;
    if (total > 0) {
      const target = Math.ceil(total * 0.99);
      let running = 0;
      for (let i = 0; i < delta.length; i++) {
        running += delta[i]!;
        if (running >= target) {
          const bound = LATENCY_BUCKETS[i];
          p99Ms = bound === undefined ? Infinity : bound * 1000;
          break;
        }
      }
    }
    return { seconds, qps: seconds > 0 ? requests / seconds : 0, p99Ms };
  }
}
