/**
 * The master's live status: every second it adds the daemon-wide metrics to
 * fifteen minutes of per-second history (the status page's charts, and
 * QPS, p50 and p99 over the last minute), and it builds the report behind
 * `GET /status`, `/status.json` and the counters in systemd's STATUS= line.
 *
 * @module
 */
import { formatAddress, parseAddress } from "../config/address.ts";
import type { ListenerConfig } from "../config/settings.ts";
import type { ListenerStats } from "../models/contract.ts";
import { aggregate } from "../metrics/aggregate.ts";
import { History, type WorkerLoad } from "../metrics/history.ts";
import { ledger, LOST_CONNECTIONS } from "../metrics/ledger.ts";
import { metrics, type MetricsSnapshot } from "../metrics/registry.ts";
import {
  type ListenerStatus,
  setStatusSource,
  type StatusReport,
} from "../metrics/status.ts";
import { VERSION } from "../util/version.ts";

/** A listener as the board sees it. */
export interface BoardListener {
  listener: ListenerConfig;
  stats(): ListenerStats;
}

/** Options for {@linkcode StatusBoard}. */
export interface StatusBoardOptions {
  listeners: () => readonly BoardListener[];
  draining: () => boolean;
}

function sum(snapshot: MetricsSnapshot, prefix: string): number {
  let total = 0;
  for (const [key, value] of Object.entries(snapshot.counters)) {
    if (key === prefix || key.startsWith(`${prefix}{`)) total += value;
  }
  return total;
}

/** The tag of the master's own isolate on the status page. */
const MAIN = "main";

/** Connections this isolate (the master) has accepted: the in-isolate models'. */
function acceptedHere(): number {
  return sum(metrics.snapshot(), "koan_connections_total");
}

function address(text: string): string {
  try {
    return formatAddress(parseAddress(text));
  } catch (error) {
    // parseAddress() throws RangeError for what is not host:port, such as
    // an inherited socket's description: show that as it is.
    if (!(error instanceof RangeError)) throw error;
    return text;
  }
}

/** Builds the status report and keeps the history fed. */
export class StatusBoard {
  #options: StatusBoardOptions;
  #history = new History();
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = Date.now();

  constructor(options: StatusBoardOptions) {
    this.#options = options;
  }

  /** Starts sampling and serves the report to HTTP handlers in this isolate. */
  start(): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 1000);
    setStatusSource(() => this.report());
  }

  /** One tick of the history. */
  #sample(): void {
    const snapshot = aggregate();
    const workers: Record<string, WorkerLoad> = {};
    let connections = 0;
    let inIsolate: WorkerLoad | undefined;
    for (const item of this.#options.listeners()) {
      const stats = item.stats();
      connections += stats.connections;
      if (stats.pool) {
        for (const w of stats.pool) {
          workers[w.tag] = { connections: w.connections, accepted: w.served };
        }
      } else {
        inIsolate ??= { connections: 0, accepted: acceptedHere() };
        inIsolate.connections += stats.connections;
      }
    }
    if (inIsolate) workers[MAIN] = inIsolate;
    this.#history.push({ at: Date.now(), snapshot, connections, workers });
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    setStatusSource(undefined);
  }

  /** Counts a reload (`result`: ok or refused). */
  reloaded(result: "ok" | "refused"): void {
    metrics.inc(`koan_reloads_total{result="${result}"}`);
  }

  /** The report now. */
  report(): StatusReport {
    const snapshot = aggregate();
    const window = this.#history.window();
    const listeners: ListenerStatus[] = this.#options.listeners().map(
      (item) => {
        const stats = item.stats();
        const now = Date.now();
        const workers = stats.pool?.map((w) => ({
          id: w.tag,
          pid: w.pid,
          uptimeSeconds: w.uptimeMs / 1000,
          restarts: w.restarts,
        })) ?? [{
          id: MAIN,
          pid: Deno.pid,
          uptimeSeconds: (now - this.#started) / 1000,
          restarts: 0,
        }];
        return {
          protocol: item.listener.protocol,
          address: address(item.listener.address),
          model: item.listener.model,
          connections: stats.connections,
          workers,
        };
      },
    );
    return {
      version: VERSION,
      pid: Deno.pid,
      uptimeSeconds: (Date.now() - this.#started) / 1000,
      draining: this.#options.draining(),
      listeners,
      connections: listeners.reduce((n, l) => n + l.connections, 0),
      qps: window.qps,
      p50Ms: window.p50Ms,
      p99Ms: window.p99Ms,
      windowSeconds: window.seconds,
      restarts: sum(snapshot, "koan_worker_restarts_total"),
      reloads: sum(snapshot, "koan_reloads_total"),
      lostConnections: sum(snapshot, LOST_CONNECTIONS),
      events: ledger.events(),
      history: this.#history.columns(),
    };
  }

  /** A short text of the live counters for systemd's STATUS= line. */
  statusExtra(): string {
    const snapshot = aggregate();
    const window = this.#history.window();
    return `${sum(snapshot, "koan_requests_total")} requests, ${
      window.qps.toFixed(1)
    } req/s, ${sum(snapshot, "koan_worker_restarts_total")} restarts`;
  }
}
