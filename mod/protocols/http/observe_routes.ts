/**
 * What the daemon is doing, over HTTP: `GET /metrics` (Prometheus text,
 * summed over every worker), `GET /status` (a page drawn on the server
 * from the live report — charts of the last fifteen minutes, tables, the
 * ledger's last events — that redraws itself each second where JavaScript
 * runs) and `GET /status.json` (the data behind it).
 *
 * Pure: the numbers come from `mod/metrics/` (the isolate's registry plus
 * what the master aggregates and pushes), never from `Deno.*`.
 *
 * @module
 */
import { accessStats } from "../../log/access_log.ts";
import {
  accessLogLosses,
  exportAccessLogLosses,
} from "../../metrics/access_losses.ts";
import { aggregate } from "../../metrics/aggregate.ts";
import type { MetricsSnapshot } from "../../metrics/registry.ts";
import { renderPrometheus } from "../../metrics/prometheus.ts";
import { currentStatus, type StatusReport } from "../../metrics/status.ts";
import { renderStatusPage } from "../../metrics/status_page.ts";
import { type Reply, textReply } from "./reply.ts";
import type { Route } from "./route.ts";
import { HttpError } from "./status.ts";

const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The daemon-wide metrics, this isolate's access log losses included: an
 * isolate that serves these routes but is no pool worker (the master under
 * `async`) has registered them nowhere else. Registering again is a no-op.
 */
function daemonWide(): MetricsSnapshot {
  exportAccessLogLosses(accessStats());
  return aggregate();
}

/** `GET /metrics`. */
export const metricsRoute: Route = {
  methods: ["GET"],
  handle: (): Reply =>
    textReply(200, renderPrometheus(daemonWide()), PROMETHEUS_TYPE),
};

/**
 * The live report with this isolate's access log losses. The report may be
 * the master's, up to a second old; the losses are this isolate's live
 * sum, the number /metrics shows.
 */
function liveReport(): StatusReport | undefined {
  const report = currentStatus();
  if (!report) return undefined;
  const losses = accessLogLosses(daemonWide());
  return {
    ...report,
    accessLogLostLines: losses.lost,
    accessLogWriteErrors: losses.errors,
  };
}

/**
 * `GET /status`: the HTML page, drawn from the report now (or, before the
 * first one, a page that waits for it).
 */
export const statusPageRoute: Route = {
  methods: ["GET"],
  handle: (): Reply =>
    textReply(
      200,
      renderStatusPage(liveReport()),
      "text/html; charset=utf-8",
    ),
};

/** `GET /status.json`: the live report. */
export const statusJsonRoute: Route = {
  methods: ["GET"],
  handle: (): Reply => {
    const report = liveReport();
    if (!report) {
      throw new HttpError(503, "The status report is not ready yet");
    }
    return textReply(200, JSON.stringify(report), "application/json");
  },
};
