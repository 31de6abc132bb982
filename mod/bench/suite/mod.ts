/**
 * `deno task bench`: koan's standard measurements, each side by side with
 * a baseline in the same run (`main.ts` is the entry; `zen.ts`, `http.ts`,
 * `models.ts` the sections; `baseline_*.ts` the peers it is compared to).
 *
 * May import the rest of `bench` and the layers below it.
 *
 * @module
 */
export { benchManyConnections, benchZen } from "./zen.ts";
export { benchHttp } from "./http.ts";
export { benchModels } from "./models.ts";
