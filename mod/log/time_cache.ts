/**
 * Time strings for log lines, rendered once per second (nginx's
 * `ngx_times.c` habit): a line only reads the clock and copies bytes.
 *
 * @module
 */

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

const encoder = new TextEncoder();

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * The current second's time strings. Call {@linkcode TimeCache.update}
 * once per line, then read the fields.
 *
 * @example Usage
 * ```ts
 * import { TimeCache } from "./time_cache.ts";
 * const time = new TimeCache(() => Date.UTC(2026, 11, 2, 5, 19, 1, 250));
 * time.update();
 * if (time.ms !== 250) throw new Error("ms within the second");
 * ```
 */
export class TimeCache {
  #clock: () => number;
  #second = Number.NaN;
  /** Epoch milliseconds at the last update. */
  now = 0;
  /** Milliseconds into the current second. */
  ms = 0;
  /** nginx `$time_local`, local time: `02/Dec/2026:05:19:01 +0000`. */
  local: Uint8Array = new Uint8Array(0);
  /** nginx `$time_iso8601`, local time: `2026-12-02T05:19:01+00:00` (also RFC 5424's TIMESTAMP). */
  iso8601: Uint8Array = new Uint8Array(0);
  /** UTC up to the milliseconds, as `toISOString()` starts: `2026-12-02T05:19:01.`. */
  utcSecond: Uint8Array = new Uint8Array(0);

  /** `clock`: epoch milliseconds. @default {Date.now} */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** Reads the clock; renders the strings again when the second changed. */
  update(): void {
    const now = this.#clock();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) this.#render(second);
    this.now = now;
    this.ms = now - second * 1000;
  }

  #render(second: number): void {
    this.#second = second;
    const date = new Date(second * 1000);
    const offset = -date.getTimezoneOffset();
    const sign = offset < 0 ? "-" : "+";
    const hours = two(Math.floor(Math.abs(offset) / 60));
    const minutes = two(Math.abs(offset) % 60);
    const year = date.getFullYear();
    const month = date.getMonth();
    const day = two(date.getDate());
    const clock = `${two(date.getHours())}:${two(date.getMinutes())}:${
      two(date.getSeconds())
    }`;
    this.local = encoder.encode(
      `${day}/${MONTHS[month]}/${year}:${clock} ${sign}${hours}${minutes}`,
    );
    this.iso8601 = encoder.encode(
      `${year}-${two(month + 1)}-${day}T${clock}${sign}${hours}:${minutes}`,
    );
    this.utcSecond = encoder.encode(date.toISOString().slice(0, 20));
  }
}
