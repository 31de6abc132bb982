/**
 * Counters, gauges and latency histograms for one isolate, kept as plain
 * numbers keyed by `name{labels}` so a snapshot is a small JSON object that
 * workers can send to the master and the master can add up.
 *
 * @module
 */

/** Upper bounds (seconds) of the latency histogram buckets; +Inf is implied. */
export const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
] as const;

/** A histogram's state: cumulative-free counts per bucket (+Inf last). */
export interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/** Everything one registry holds, as plain data. */
export interface MetricsSnapshot {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, HistogramState>;
}

/** Formats `name{a="x",b="y"}` with labels in a fixed order. */
export function seriesKey(
  name: string,
  labels: Record<string, string> = {},
): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return name;
  const body = keys.sort().map((k) =>
    `${k}="${
      labels[k]!.replace(/["\\\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`)
    }"`
  ).join(",");
  return `${name}{${body}}`;
}

/**
 * A counter's live cell, from {@linkcode Metrics.counter}: for a caller
 * that counts on a hot path and would rather not look its key up per event.
 */
export interface Counter {
  /** Adds `by` (default 1). */
  inc(by?: number): void;
}

/** A histogram's live cell, from {@linkcode Metrics.histogram}. */
export interface Histogram {
  /** Records one observation (seconds). */
  observe(seconds: number): void;
}

class CounterCell implements Counter {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

class HistogramCell implements Histogram, HistogramState {
  counts: number[] = new Array(LATENCY_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let index = 0;
    while (
      index < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[index]!
    ) {
      index++;
    }
    this.counts[index]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** One isolate's metrics. */
export class Metrics {
  #counters = new Map<string, CounterCell>();
  #gauges = new Map<string, number>();
  #histograms = new Map<string, HistogramCell>();
  #counterFuncs = new Map<string, () => number>();
  #gaugeFuncs = new Map<string, () => number>();

  /** Adds `by` (default 1) to a counter. */
  inc(key: string, by = 1): void {
    this.#counter(key).value += by;
  }

  /**
   * The cell of counter `key`, made (at zero, and exported from then on)
   * if needed: `counter(key).inc(by)` is `inc(key, by)` without the
   * lookup. Cells live as long as the registry.
   *
   * @example Usage
   * ```ts
   * import { Metrics } from "./registry.ts";
   * const m = new Metrics();
   * const requests = m.counter("requests_total");
   * requests.inc();
   * m.inc("requests_total", 2);
   * if (m.snapshot().counters.requests_total !== 3) throw new Error("not counted");
   * ```
   */
  counter(key: string): Counter {
    return this.#counter(key);
  }

  #counter(key: string): CounterCell {
    let cell = this.#counters.get(key);
    if (cell === undefined) {
      cell = new CounterCell();
      this.#counters.set(key, cell);
    }
    return cell;
  }

  /** Adds `by` (may be negative) to a gauge. */
  add(key: string, by: number): void {
    this.#gauges.set(key, (this.#gauges.get(key) ?? 0) + by);
  }

  /** Sets a gauge. */
  set(key: string, value: number): void {
    this.#gauges.set(key, value);
  }

  /**
   * A counter kept elsewhere, read on every snapshot (the Go client's
   * `CounterFunc`): for a module this layer may not import, which then
   * pays nothing per event, only when a snapshot is taken. `read` must be
   * monotonic and cheap. Registering a key again replaces its reader, so
   * every caller may register without knowing whether another did.
   *
   * @example Usage
   * ```ts
   * import { Metrics } from "./registry.ts";
   * const lost = { lines: 0 };
   * const m = new Metrics();
   * m.counterFunc("lost_total", () => lost.lines);
   * lost.lines += 3;
   * if (m.snapshot().counters.lost_total !== 3) throw new Error("not read");
   * ```
   */
  counterFunc(key: string, read: () => number): void {
    this.#counterFuncs.set(key, read);
  }

  /**
   * A gauge kept elsewhere, read on every snapshot (the Go client's
   * `GaugeFunc`): for a size this layer may not import. `read` must be
   * cheap. Registering a key again replaces its reader.
   *
   * @example Usage
   * ```ts
   * import { Metrics } from "./registry.ts";
   * const table = { size: 0 };
   * const m = new Metrics();
   * m.gaugeFunc("table_entries", () => table.size);
   * table.size = 7;
   * if (m.snapshot().gauges.table_entries !== 7) throw new Error("not read");
   * ```
   */
  gaugeFunc(key: string, read: () => number): void {
    this.#gaugeFuncs.set(key, read);
  }

  /** Records one observation (seconds) in a histogram. */
  observe(key: string, seconds: number): void {
    this.#histogram(key).observe(seconds);
  }

  /**
   * The cell of histogram `key`, made (empty, and exported from then on)
   * if needed: `histogram(key).observe(s)` is `observe(key, s)` without
   * the lookup.
   *
   * @example Usage
   * ```ts
   * import { Metrics } from "./registry.ts";
   * const m = new Metrics();
   * m.histogram("latency_seconds").observe(0.002);
   * if (m.snapshot().histograms.latency_seconds?.count !== 1) throw new Error();
   * ```
   */
  histogram(key: string): Histogram {
    return this.#histogram(key);
  }

  #histogram(key: string): HistogramCell {
    let cell = this.#histograms.get(key);
    if (cell === undefined) {
      cell = new HistogramCell();
      this.#histograms.set(key, cell);
    }
    return cell;
  }

  /** A copy of everything, for IPC and rendering. */
  snapshot(): MetricsSnapshot {
    const histograms: Record<string, HistogramState> = {};
    for (const [key, cell] of this.#histograms) {
      histograms[key] = {
        counts: [...cell.counts],
        sum: cell.sum,
        count: cell.count,
      };
    }
    const counters: Record<string, number> = {};
    for (const [key, cell] of this.#counters) counters[key] = cell.value;
    for (const [key, read] of this.#counterFuncs) {
      counters[key] = (counters[key] ?? 0) + read();
    }
    const gauges = Object.fromEntries(this.#gauges);
    for (const [key, read] of this.#gaugeFuncs) {
      gauges[key] = (gauges[key] ?? 0) + read();
    }
    return { counters, gauges, histograms };
  }
}

/** An empty snapshot. */
export function emptySnapshot(): MetricsSnapshot {
  return { counters: {}, gauges: {}, histograms: {} };
}

/**
 * Adds snapshots together (every series is a sum across workers).
 *
 * @example Usage
 * ```ts
 * import { Metrics, mergeSnapshots } from "./registry.ts";
 * const a = new Metrics();
 * a.inc("x");
 * const total = mergeSnapshots([a.snapshot(), a.snapshot()]);
 * if (total.counters.x !== 2) throw new Error("not summed");
 * ```
 */
export function mergeSnapshots(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const total = emptySnapshot();
  for (const snapshot of snapshots) {
    for (const [key, value] of Object.entries(snapshot.counters)) {
      total.counters[key] = (total.counters[key] ?? 0) + value;
    }
    for (const [key, value] of Object.entries(snapshot.gauges)) {
      total.gauges[key] = (total.gauges[key] ?? 0) + value;
    }
    for (const [key, state] of Object.entries(snapshot.histograms)) {
      const into = total.histograms[key] ??= {
        counts: new Array(state.counts.length).fill(0),
        sum: 0,
        count: 0,
      };
      state.counts.forEach((n, i) =>
        into.counts[i] = (into.counts[i] ?? 0) + n
      );
      into.sum += state.sum;
      into.count += state.count;
    }
  }
  return total;
}

/** The process-wide registry of this isolate. */
export const metrics: Metrics = new Metrics();
