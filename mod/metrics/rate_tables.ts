/**
 * The rate limits' per-source state as a gauge,
 * `koan_rate_limit_sources{limit}`: every table of token buckets this
 * isolate holds (one per listener and limit), summed, read when a
 * snapshot is taken. Tables are held weakly: one dropped with its
 * listener leaves the sum when it is collected.
 *
 * A table shared by the threads of a pool is exported once, by the
 * master that made it: workers' snapshots are added up, so a worker that
 * exported it too would count it again.
 *
 * @module
 */
import { metrics, seriesKey } from "./registry.ts";

/** The limit a table serves: the `limit` label. */
export type RateLimitName = "rate_per_source" | "request_rate";

/** What the gauge reads from a table. */
export interface SizedTable {
  /** Sources with state now. */
  readonly size: number;
}

const tables = new Map<RateLimitName, Set<WeakRef<SizedTable>>>();

/**
 * Adds `table`'s size to `koan_rate_limit_sources{limit}` for as long as
 * the table lives.
 *
 * @example Usage
 * ```ts
 * import { exportRateTable } from "./rate_tables.ts";
 * import { metrics } from "./registry.ts";
 * const table = { size: 3 };
 * exportRateTable("request_rate", table);
 * const key = 'koan_rate_limit_sources{limit="request_rate"}';
 * if (metrics.snapshot().gauges[key]! < 3) throw new Error("not counted");
 * ```
 */
export function exportRateTable(limit: RateLimitName, table: SizedTable): void {
  let live = tables.get(limit);
  if (live === undefined) {
    const set = new Set<WeakRef<SizedTable>>();
    live = set;
    tables.set(limit, set);
    metrics.gaugeFunc(seriesKey("koan_rate_limit_sources", { limit }), () => {
      let sum = 0;
      for (const ref of set) {
        const held = ref.deref();
        if (held === undefined) set.delete(ref);
        else sum += held.size;
      }
      return sum;
    });
  }
  live.add(new WeakRef(table));
}
