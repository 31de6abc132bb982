/**
 * The access log's losses as metrics: `koan_access_log_lost_lines_total`
 * and `koan_access_log_write_errors_total`.
 *
 * The access log (`log/access_log.ts`) counts failed writes and the lines
 * they cost in plain numbers, only when a write fails; `log/` and
 * `metrics/` are siblings and may not import each other, so a module above
 * both passes those counts in and this one makes them counters of this
 * isolate's registry, read on each snapshot. From there they travel as
 * every counter does (a worker's heartbeat, the master's sum, the push
 * back to workers), so `/metrics` shows the sum over the daemon.
 *
 * Registered, idempotently, wherever counts must reach `/metrics`: by
 * each pool worker when it starts, by the master when it starts a pool
 * (its own losses then reach a worker serving `/metrics`), and by the
 * isolate that serves `/metrics` or `/status.json`.
 *
 * @module
 */
import { type Metrics, metrics, type MetricsSnapshot } from "./registry.ts";

/** Access lines dropped because writing them failed. */
export const ACCESS_LOG_LOST_LINES = "koan_access_log_lost_lines_total";
/** Failed access log writes (a buffer), syslog sends (a line) and reopens. */
export const ACCESS_LOG_WRITE_ERRORS = "koan_access_log_write_errors_total";

/** What the access log counts (`accessStats()` in `log/access_log.ts`). */
export interface AccessLogLosses {
  /** Failed writes, sends and reopens. */
  readonly errors: number;
  /** Lines lost to them. */
  readonly lost: number;
}

/**
 * Makes `stats`, a live object the access log keeps counting into, two
 * counters of `registry`. Calling it again replaces the readers.
 *
 * @example Usage
 * ```ts
 * import { exportAccessLogLosses } from "./access_losses.ts";
 * import { Metrics } from "./registry.ts";
 * const stats = { errors: 0, lost: 0 };
 * const registry = new Metrics();
 * exportAccessLogLosses(stats, registry);
 * stats.errors = 1;
 * stats.lost = 4;
 * const counters = registry.snapshot().counters;
 * if (counters.koan_access_log_lost_lines_total !== 4) throw new Error();
 * ```
 */
export function exportAccessLogLosses(
  stats: AccessLogLosses,
  registry: Metrics = metrics,
): void {
  registry.counterFunc(ACCESS_LOG_WRITE_ERRORS, () => stats.errors);
  registry.counterFunc(ACCESS_LOG_LOST_LINES, () => stats.lost);
}

/**
 * The daemon-wide losses in a snapshot (`aggregate()`), 0 where nothing
 * registered them.
 *
 * @example Usage
 * ```ts
 * import { accessLogLosses } from "./access_losses.ts";
 * const losses = accessLogLosses({
 *   counters: { koan_access_log_lost_lines_total: 7 },
 *   gauges: {},
 *   histograms: {},
 * });
 * if (losses.lost !== 7 || losses.errors !== 0) throw new Error();
 * ```
 */
export function accessLogLosses(snapshot: MetricsSnapshot): AccessLogLosses {
  return {
    errors: snapshot.counters[ACCESS_LOG_WRITE_ERRORS] ?? 0,
    lost: snapshot.counters[ACCESS_LOG_LOST_LINES] ?? 0,
  };
}
