/**
 * The live status report behind `GET /status` (HTML) and
 * `GET /status.json`: listeners with their models and workers, open
 * connections, QPS and p99 over the last minute, restarts, reloads and
 * access lines lost to write errors.
 *
 * @module
 */

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
  /** Seconds the QPS/p99 window covers. */
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
}

/** The status page: self-contained HTML (no CDN) that polls `/status.json` every second. */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>koan status</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  .tiles { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1.5rem; }
  .tile { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 8rem; }
  .tile b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { border-bottom: 1px solid #eee; padding: .3rem .8rem; text-align: left; font-variant-numeric: tabular-nums; }
  .draining, .lost { color: #b00; font-weight: bold; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>koan <span id="version"></span> <span id="state"></span></h1>
<div class="tiles">
  <div class="tile">QPS (last minute)<b id="qps">–</b></div>
  <div class="tile" title="HTTP requests; Zen and echo connections">p99 duration ms (last minute)<b id="p99">–</b></div>
  <div class="tile">open connections<b id="connections">–</b></div>
  <div class="tile">worker restarts<b id="restarts">–</b></div>
  <div class="tile">reloads<b id="reloads">–</b></div>
  <div class="tile" title="dropped because writing them failed (full disk, dead syslog)">access lines lost<b id="lost">–</b></div>
  <div class="tile">uptime<b id="uptime">–</b></div>
</div>
<table>
  <thead><tr><th>protocol</th><th>address</th><th>model</th><th>connections</th><th>workers</th></tr></thead>
  <tbody id="listeners"></tbody>
</table>
<table>
  <thead><tr><th>listener</th><th>worker</th><th>pid</th><th>uptime</th><th>restarts</th></tr></thead>
  <tbody id="workers"></tbody>
</table>
<p id="error"></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function duration(s) {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}
function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.textContent = String(cell);
    tr.append(td);
  }
  return tr;
}
async function refresh() {
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    const s = await response.json();
    $("version").textContent = s.version;
    $("state").textContent = s.draining ? "draining" : "";
    $("state").className = s.draining ? "draining" : "";
    $("qps").textContent = s.qps.toFixed(1);
    $("p99").textContent = s.p99Ms ? s.p99Ms.toFixed(1) : "–";
    $("connections").textContent = s.connections;
    $("restarts").textContent = s.restarts;
    $("reloads").textContent = s.reloads;
    const lost = s.accessLogLostLines ?? 0;
    $("lost").textContent = lost;
    $("lost").className = lost ? "lost" : "";
    $("lost").title = (s.accessLogWriteErrors ?? 0) + " failed writes";
    $("uptime").textContent = duration(s.uptimeSeconds);
    $("listeners").replaceChildren(...s.listeners.map((l) =>
      row([l.protocol, l.address, l.model, l.connections, l.workers.length])));
    $("workers").replaceChildren(...s.listeners.flatMap((l) => l.workers.map((w) =>
      row([l.protocol + " " + l.address, w.id, w.pid, duration(w.uptimeSeconds), w.restarts]))));
    $("error").textContent = "";
  } catch (error) {
    $("error").textContent = "cannot reach the daemon: " + error.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;

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
