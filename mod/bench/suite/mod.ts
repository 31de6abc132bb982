/**
 * `deno task bench`: koan's standard measurements, each side by side with
 * a peer in the same run (`main.ts` is the entry; `zen.ts`, `many.ts`,
 * `http.ts`, `inetd.ts` and `models.ts` the sections; `summary.ts` the
 * verdict table; `baseline_*.ts`, `nginx.ts` and `zen_holder.ts` the peers
 * and clients it starts; `_host.ts` and `_koan.ts` what they share).
 *
 * May import the rest of `bench` and the layers below it.
 *
 * @module
 */
export { benchZen } from "./zen.ts";
export { benchMany } from "./many.ts";
export { benchHttp } from "./http.ts";
export { benchModels } from "./models.ts";
export { check, formatSummary, stats } from "./summary.ts";
