/**
 * The live status report behind `GET /status` (HTML, `status_page.ts`) and
 * `GET /status.json`: listeners with their models and workers, open
 * connections, QPS, p50 and p99 over the last minute, restarts, reloads,
 * access lines lost to write errors, lost connections with the ledger's
 * last events, and fifteen minutes of per-second history for the charts.
 *
 * @module
 */
import type { HistoryColumns } from "./history.ts";
import type { LossEvent } from "./ledger.ts";

/** One worker as the status page shows it. */
export interface WorkerStatus {
  /** `w1`, `w2`, … or `main` for in-isolate models. */
  id: string;
  /** Process id (the master's for threads and in-isolate models). */
  pid: number;
  /** Seconds since this worker started. */
  uptimeSeconds: number;
  /** Times this worker slot was restarted. */
  restarts: number;
}

/** One listener. */
export interface ListenerStatus {
  protocol: string;
  address: string;
  model: string;
  connections: number;
  workers: WorkerStatus[];
}

/** The whole report. */
export interface StatusReport {
  version: string;
  pid: number;
  uptimeSeconds: number;
  draining: boolean;
  listeners: ListenerStatus[];
  connections: number;
  qps: number;
  p99Ms: number;
  /** Median request duration over the window, ms (bucket upper bound; 0 with no requests). */
  p50Ms?: number;
  /** Seconds the QPS/p50/p99 window covers. */
  windowSeconds: number;
  restarts: number;
  reloads: number;
  /**
   * Access lines lost to write errors, summed over every worker
   * (`koan_access_log_lost_lines_total`). Filled in by the isolate that
   * serves `/status.json`, from its live daemon-wide metrics.
   */
  accessLogLostLines?: number;
  /** Failed access log writes (`koan_access_log_write_errors_total`), likewise. */
  accessLogWriteErrors?: number;
  /** Connections lost since the daemon started (`koan_lost_connections_total`). */
  lostConnections?: number;
  /** The lost-connection ledger's last events, oldest first. */
  events?: LossEvent[];
  /** The last fifteen minutes, one entry a second, for the charts. */
  history?: HistoryColumns;
}

let source: (() => StatusReport) | undefined;
let remoteReport: StatusReport | undefined;

/** In the master: registers the function that builds the live report. */
export function setStatusSource(build: (() => StatusReport) | undefined): void {
  source = build;
}

/** In a worker: the report the master last pushed (about once a second). */
export function setRemoteStatus(report: StatusReport | undefined): void {
  remoteReport = report;
}

/** The live report, wherever the asking HTTP handler runs; undefined before the first one exists. */
export function currentStatus(): StatusReport | undefined {
  return source ? source() : remoteReport;
}
