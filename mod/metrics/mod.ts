/**
 * Metrics: a per-isolate registry with mergeable snapshots
 * (`registry.ts`), the sum across workers (`aggregate.ts`), the minute
 * window (`window.ts`), Prometheus text (`prometheus.ts`) and the status
 * page and report (`status.ts`).
 *
 * Bottom layer: imports nothing of koan's outside `metrics/`.
 *
 * @module
 */
export { Metrics, metrics, seriesKey } from "./registry.ts";
export { aggregate } from "./aggregate.ts";
export { renderPrometheus } from "./prometheus.ts";
