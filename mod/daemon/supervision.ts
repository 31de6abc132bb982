/**
 * What the service manager sees of a running daemon: `STATUS=` lines with
 * live counters (shown by `systemctl status`) and the watchdog keep-alive.
 * `WATCHDOG=1` goes out at half of `WATCHDOG_USEC`, and only while every
 * listener can serve: a master whose event loop is stuck sends nothing,
 * and so does one whose pooled listener has no worker ready (all crashed,
 * respawn backing off) — either way systemd restarts the service.
 *
 * @module
 */
import type { ListenerConfig } from "../config/settings.ts";
import type { ListenerStats } from "../models/contract.ts";
import { log } from "../log/log.ts";
import type { Notifier } from "./notify.ts";

const logger = log("daemon");

/** How often STATUS= is refreshed when counters change. */
const STATUS_INTERVAL_MS = 2000;

/** A listener as supervision sees it. */
export interface Supervised {
  listener: ListenerConfig;
  stats(): ListenerStats;
}

/** Models whose main thread accepts and starts a worker per connection: no idle worker is needed. */
const PER_CONNECTION = new Set([
  "thread-per-connection",
  "process-per-connection",
]);

/** Workers a listener needs ready for the daemon to count as healthy. */
export function requiredWorkers(listener: ListenerConfig): number {
  return PER_CONNECTION.has(listener.model) ? 0 : 1;
}

/** Totals over the listeners. */
export interface Totals {
  listeners: number;
  connections: number;
  workers: number;
  /** Listeners short of {@linkcode requiredWorkers}, as `listener[i]` text. */
  short: string[];
}

/** Adds up the listeners' counters. */
export function totals(listeners: readonly Supervised[]): Totals {
  const result: Totals = {
    listeners: listeners.length,
    connections: 0,
    workers: 0,
    short: [],
  };
  listeners.forEach((item, index) => {
    const stats = item.stats();
    result.connections += stats.connections;
    result.workers += stats.workers;
    if (stats.workers < requiredWorkers(item.listener)) {
      result.short.push(
        `listener[${index}] (${item.listener.model}) has ${stats.workers} workers ready`,
      );
    }
  });
  return result;
}

/**
 * Formats a STATUS= text.
 *
 * @example Usage
 * ```ts
 * import { statusText } from "./supervision.ts";
 * const text = statusText({ listeners: 2, connections: 5, workers: 3, short: [] });
 * if (text !== "2 listeners, 5 connections, 3 workers") throw new Error(text);
 * ```
 */
export function statusText(t: Totals, prefix = ""): string {
  const plural = (n: number, word: string) =>
    `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${prefix}${plural(t.listeners, "listener")}, ${
    plural(t.connections, "connection")
  }, ${plural(t.workers, "worker")}`;
}

/** Options for {@linkcode Supervision}. */
export interface SupervisionOptions {
  /** Where messages go; nothing is sent without one. */
  notifier?: Notifier | undefined;
  /** The listeners now. */
  listeners: () => readonly Supervised[];
  /** Watchdog period (half of WATCHDOG_USEC) in ms; off when undefined. */
  watchdogMs?: number | undefined;
  /** More live counters for STATUS= (requests, rate, restarts). */
  extra?: () => string;
}

/** Periodic STATUS= and WATCHDOG=1. */
export class Supervision {
  #options: SupervisionOptions;
  #timers: ReturnType<typeof setInterval>[] = [];
  #lastStatus = "";
  #withheld = false;
  #paused = false;

  constructor(options: SupervisionOptions) {
    this.#options = options;
  }

  /** Starts the timers. */
  start(): void {
    const { notifier, watchdogMs } = this.#options;
    if (!notifier) return;
    this.#timers.push(
      setInterval(() => this.refresh(), STATUS_INTERVAL_MS),
    );
    if (watchdogMs !== undefined) {
      this.#timers.push(setInterval(() => this.#watchdog(), watchdogMs));
      this.#watchdog();
    }
  }

  /** Stops sending periodic STATUS= (while reloading or stopping, which set their own). */
  pause(paused: boolean): void {
    this.#paused = paused;
  }

  /** The current totals. */
  totals(): Totals {
    return totals(this.#options.listeners());
  }

  /** The STATUS= text now, remembered as sent (for a message that carries it). */
  statusNow(prefix = ""): string {
    const text = this.#text();
    this.#lastStatus = text;
    return prefix + text;
  }

  /** Sends STATUS= if the counters changed (or always, with `force`). */
  refresh(force = false): void {
    if (this.#paused && !force) return;
    const text = this.#text();
    if (!force && text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.#options.notifier?.send({ STATUS: text });
  }

  #text(): string {
    const extra = this.#options.extra?.();
    return statusText(this.totals()) + (extra ? `, ${extra}` : "");
  }

  #watchdog(): void {
    const t = this.totals();
    if (t.short.length > 0) {
      if (!this.#withheld) {
        logger.warn("watchdog ping withheld: {why}", {
          why: t.short.join("; "),
        });
      }
      this.#withheld = true;
      return;
    }
    if (this.#withheld) logger.info("watchdog ping resumed");
    this.#withheld = false;
    this.#options.notifier?.send({ WATCHDOG: 1 });
  }

  /** Stops the timers. */
  stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }
}
