/**
 * The ledger of lost connections: every stop, reload, worker recycle,
 * worker crash and limit refusal becomes one {@linkcode LossEvent} with a
 * time, a kind and four counts — refused, cut with work in flight,
 * answers not delivered, and closed normally while it lasted. The master
 * keeps the last {@linkcode LEDGER_SIZE} events for `/status`, counts the
 * losses into `koan_lost_connections_total{event,reason,protocol}` and
 * writes one info line per event.
 *
 * Stops, reloads, recycles and crashes are reported by the daemon and the
 * models as they end; refusals are counted where they happen (any worker)
 * and reach the ledger through the daemon-wide metrics, one event per
 * listener, reason and second.
 *
 * @module
 */
import { metrics, type MetricsSnapshot, seriesKey } from "./registry.ts";

/** What happened. */
export type LossEventKind = "stop" | "reload" | "recycle" | "crash" | "refusal";

/** The counts one event carries. */
export interface LossCounts {
  /** Connections refused (limits, or accepted and closed unserved). */
  refused: number;
  /** Connections reset or cut while a request was in flight. */
  cut: number;
  /** Requests read whose answer was never delivered. */
  undelivered: number;
  /** Connections that closed normally during the event. */
  closed: number;
  /**
   * Connections the event touched: open when it began, accepted or
   * refused while it lasted. @default {refused + cut + closed}
   */
  total?: number;
}

/** One event of the ledger. */
export interface LossEvent extends LossCounts {
  total: number;
  kind: LossEventKind;
  /** When it ended (ms since the epoch). */
  at: number;
  /** Why, in a word: `shutdown_timeout`, `max_connections`, `signal 9`, … */
  reason: string;
  /** The listener's protocol (`zen`, `http`, `echo`; `all` for a daemon-wide event). */
  protocol: string;
  /** The listener, as logs name it (`http 127.0.0.1:8080`), or `all`. */
  listener: string;
}

/** Events kept for the status page. */
export const LEDGER_SIZE = 50;

/** The series name in `/metrics`. */
export const LOST_CONNECTIONS = "koan_lost_connections_total";

const REFUSED = "koan_connections_refused_total";

/** A label's value in a series key made by `seriesKey` (`""` when absent). */
function labelOf(key: string, label: string): string {
  const match = new RegExp(`[{,]${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(key);
  return match
    ? match[1]!.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c)
    : "";
}

/** Connections an event lost: refused + cut (answers not delivered ride on cuts). */
export function lostOf(counts: LossCounts): number {
  return counts.refused + counts.cut;
}

/** One line for the log and the status page: `reload 12:03:11 — 0 lost of 412`. */
export function describeEvent(event: LossEvent): string {
  const time = new Date(event.at).toISOString().slice(11, 19);
  const parts = [
    `${event.kind} ${time} — ${lostOf(event)} lost of ${event.total}`,
    `(${event.refused} refused, ${event.cut} cut, ${event.undelivered} answers not delivered, ${event.closed} closed normally)`,
  ];
  if (event.reason) parts.push(`reason ${event.reason}`);
  if (event.listener !== "all") parts.push(`on ${event.listener}`);
  return parts.join(" ");
}

/** An event as {@linkcode describeEvent} wrote it, read back from a log. */
export interface LoggedEvent extends LossCounts {
  kind: string;
  lost: number;
  total: number;
  reason: string;
  listener: string;
}

const LINE = new RegExp(
  String
    .raw`ledger: (\w+) \S+ — (\d+) lost of (\d+) \((\d+) refused, (\d+) cut, (\d+) answers not delivered, (\d+) closed normally\)(?: reason (.*?))?(?: on (.*))?$`,
  "gm",
);

/**
 * Reads back the `ledger:` lines a daemon logged (for `koan bench --drill`
 * and tests), in order.
 *
 * @example Usage
 * ```ts
 * import { parseLedgerLines } from "./ledger.ts";
 * const [event] = parseLedgerLines(
 *   "ledger: stop 12:03:11 — 0 lost of 4 (0 refused, 0 cut, 0 answers not delivered, 4 closed normally) reason SIGTERM\n",
 * );
 * if (event?.closed !== 4) throw new Error("not read");
 * ```
 */
export function parseLedgerLines(text: string): LoggedEvent[] {
  return [...text.matchAll(LINE)].map((m) => ({
    kind: m[1]!,
    lost: Number(m[2]),
    total: Number(m[3]),
    refused: Number(m[4]),
    cut: Number(m[5]),
    undelivered: Number(m[6]),
    closed: Number(m[7]),
    reason: m[8] ?? "",
    listener: m[9] ?? "all",
  }));
}

type Sink = (event: LossEvent) => void;

/** The master's ledger (one per daemon). */
export class Ledger {
  #events: LossEvent[] = [];
  #sink: Sink | undefined;
  /** Last value seen of each refusal series. */
  #refusals = new Map<string, number>();
  /** Set once the first snapshot gave the baseline. */
  #primed = false;

  /** `sink` receives each event as it is recorded (the daemon logs it). */
  constructor(sink?: Sink) {
    this.#sink = sink;
  }

  /** Sets where recorded events are reported. */
  onEvent(sink: Sink | undefined): void {
    this.#sink = sink;
  }

  /** Records one event now; counts its losses into the metric. */
  record(
    kind: Exclude<LossEventKind, "refusal">,
    counts: LossCounts,
    where: { protocol?: string; listener?: string; reason?: string } = {},
  ): LossEvent {
    const event: LossEvent = {
      kind,
      at: Date.now(),
      reason: where.reason ?? "",
      protocol: where.protocol ?? "all",
      listener: where.listener ?? "all",
      ...counts,
      total: counts.total ?? counts.refused + counts.cut + counts.closed,
    };
    this.#commit(event);
    return event;
  }

  /**
   * Turns limit refusals into events: called about once a second with the
   * daemon-wide snapshot; the growth of each listener's
   * `koan_connections_refused_total{listener,reason}` since the last call
   * is one event (a flood is one line a second, not thousands).
   * `protocolOf` names a listener label's protocol.
   */
  observe(
    snapshot: MetricsSnapshot,
    protocolOf: (listener: string) => string,
  ): void {
    for (const [key, value] of Object.entries(snapshot.counters)) {
      if (!key.startsWith(`${REFUSED}{`)) continue;
      const before = this.#refusals.get(key);
      this.#refusals.set(key, value);
      // The first sight of a series (or a listener whose workers restarted
      // their counts) sets the baseline; only growth is news.
      if (before === undefined || value <= before) {
        if (before === undefined && value > 0 && this.#primed) {
          this.#refusal(key, value, protocolOf);
        }
        continue;
      }
      this.#refusal(key, value - before, protocolOf);
    }
    this.#primed = true;
  }

  #refusal(
    key: string,
    count: number,
    protocolOf: (listener: string) => string,
  ): void {
    const listener = labelOf(key, "listener");
    const protocol = protocolOf(listener);
    this.#commit({
      kind: "refusal",
      at: Date.now(),
      reason: labelOf(key, "reason"),
      protocol,
      listener: `${protocol} ${listener}`,
      refused: count,
      cut: 0,
      undelivered: 0,
      closed: 0,
      total: count,
    });
  }

  /** The last events, oldest first. */
  events(): LossEvent[] {
    return this.#events.map((event) => ({ ...event }));
  }

  #series(event: LossEvent): string {
    return seriesKey(LOST_CONNECTIONS, {
      event: event.kind,
      reason: event.reason || "none",
      protocol: event.protocol,
    });
  }

  #commit(event: LossEvent): void {
    const lost = lostOf(event);
    // A stop or reload that lost nothing still shows in the metric as a
    // zero-valued series, so a dashboard can tell "none lost" from "no data".
    metrics.inc(this.#series(event), lost);
    this.#keep(event);
  }

  #keep(event: LossEvent): void {
    this.#events.push(event);
    if (this.#events.length > LEDGER_SIZE) this.#events.shift();
    this.#sink?.(event);
  }
}

/** The daemon's ledger. */
export const ledger: Ledger = new Ledger();
