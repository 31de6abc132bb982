/**
 * Measuring koan. The library behind `koan bench` — the load generator
 * (`load.ts`), model comparison (`compare.ts`), the reload/shutdown drill
 * (`drill.ts`), charts (`svg.ts`), process RSS (`proc.ts`) and starting
 * daemons to measure (`spawn_daemon.ts`, also used by the tests) — and,
 * in `suite/`, the standard measurements of `deno task bench` with their
 * baselines (`suite/main.ts` is the task's entry).
 *
 * May import `models`, `net`, `protocols`, `config`, `log`, `metrics`,
 * `util`; never `daemon` or `cli`.
 *
 * @module
 */
export { runBench } from "./cli.ts";
export { runLoad } from "./load.ts";
export { compareModels } from "./compare.ts";
export { runDrill } from "./drill.ts";
