/**
 * Metrics: a per-isolate registry with mergeable snapshots
 * (`registry.ts`), the sum across workers (`aggregate.ts`), request
 * counts and quantiles (`window.ts`), fifteen minutes of per-second
 * history with the last minute's rates (`history.ts`), Prometheus text (`prometheus.ts`), the status report
 * (`status.ts`) and page (`status_page.ts`), the ledger of lost
 * connections (`ledger.ts`) and the access log's losses as counters
 * (`access_losses.ts`).
 *
 * Just above `util/`: imports nothing of koan's outside `metrics/` but `util/`.
 *
 * @module
 */
export { Metrics, metrics, seriesKey } from "./registry.ts";
export { aggregate } from "./aggregate.ts";
export { exportAccessLogLosses } from "./access_losses.ts";
export { renderPrometheus } from "./prometheus.ts";
