/**
 * The access log: one line per connection (Zen, echo) or request (HTTP),
 * in a format compiled once per configuration (`access_format.ts`),
 * appended to a 64 KiB buffer and written when the buffer fills, 50 ms
 * after its first line at the latest, and always on `flushLogs()` (before
 * a reload, a reopen or an exit) — nginx's `access_log ... buffer= flush=`.
 * Every isolate (the master, each worker thread or child process) has its
 * own buffer and writes whole lines to the same file opened O_APPEND.
 *
 * A write that fails is counted and reported once at error level through
 * the leveled log; the lines are dropped and the service goes on.
 *
 * The leveled log (`log.ts`) configures, flushes and reopens this one; it
 * has its own writer on purpose: this is the hot path of every request.
 *
 * @module
 */
import { after, type Cancel } from "../util/timer.ts";
import { type AccessFormat, compileAccessFormat } from "./access_format.ts";
import type { AccessRecord } from "./access_record.ts";
import { type Destination, openDestination } from "./destination.ts";
import { LineBuffer } from "./line_buffer.ts";
import { TimeCache } from "./time_cache.ts";

export type { AccessHeaders, AccessRecord } from "./access_record.ts";

/** The buffer is written once it holds this much (nginx's `buffer=64k`). */
export const BUFFER_BYTES = 64 * 1024;
/** A line waits at most this long in the buffer (nginx's `flush=`). */
export const FLUSH_MS = 50;

/** The `[log]` settings the access log reads. */
export interface AccessSettings {
  /** `log.access`. */
  access: boolean;
  /** `log.access_format`. @default {"combined"} */
  access_format?: string;
  /** `log.access_file`; empty: where {@linkcode AccessSettings.file} goes. @default {""} */
  access_file?: string;
  /** `log.file`. */
  file: string;
  /** `log.format`: the shape of the `koan` line. */
  format: "text" | "json";
}

/** Options for {@linkcode configureAccess}. */
export interface AccessOptions {
  /** `$worker`: `master`, `w3`, `inetd`. */
  tag: string;
  /** Reports a write problem at error level (called once per configuration). */
  onError?: (message: string) => void;
  /** Epoch milliseconds. @default {Date.now} */
  clock?: () => number;
}

/** Counters of what could not be written, since the process started. */
export interface AccessStats {
  /** Failed writes (a buffer) and sends (a syslog line). */
  errors: number;
  /** Lines lost to them. */
  lost: number;
}

const stats: AccessStats = { errors: 0, lost: 0 };
const NO_HEADERS: readonly string[] = Object.freeze([]);

function countLines(bytes: Uint8Array): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    n++;
  }
  return n;
}

/** One configuration's writer: a compiled format, a buffer, a destination. */
class AccessWriter {
  readonly format: AccessFormat;
  #out = new LineBuffer(BUFFER_BYTES + 16 * 1024);
  #time: TimeCache;
  #destination: Destination;
  /** The pending flush, while lines wait. */
  #timer: Cancel | undefined;
  #onError: (message: string) => void;
  #reported = false;
  #flush = () => this.flush();

  constructor(
    format: AccessFormat,
    destination: Destination,
    options: AccessOptions,
  ) {
    this.format = format;
    this.#destination = destination;
    this.#time = new TimeCache(options.clock);
    this.#onError = options.onError ?? (() => {});
  }

  write(record: AccessRecord): void {
    const out = this.#out;
    this.#time.update();
    this.format.write(out, record, this.#time);
    if (out.length >= BUFFER_BYTES) this.flush();
    else if (this.#timer === undefined) {
      // Not setTimeout, which would load Node's timers in `koan inetd`
      // (util/timer.ts). It keeps a process alive for FLUSH_MS at most.
      this.#timer = after(FLUSH_MS, this.#flush);
    }
  }

  flush(): void {
    this.#timer?.();
    this.#timer = undefined;
    const out = this.#out;
    if (out.length === 0) return;
    try {
      this.#destination.write(out.view());
    } catch (error) {
      // Whatever the destination throws (a full disk, a closed stderr,
      // a file gone with its directory), the lines are lost, not the
      // service: counted, reported once, and writing goes on.
      this.failed(error, countLines(out.view()));
    }
    out.clear();
    if (out.bytes.length > 4 * BUFFER_BYTES) {
      this.#out = new LineBuffer(BUFFER_BYTES + 16 * 1024); // one huge line grew it
    }
  }

  failed(error: unknown, lines: number): void {
    stats.errors++;
    stats.lost += lines;
    if (this.#reported) return;
    this.#reported = true;
    this.#onError(
      `access log: cannot write to ${this.#destination.name}: ${
        (error as Error)?.message ?? String(error)
      } (lines are dropped and counted; reported once)`,
    );
  }

  /** @throws when the file cannot be opened again; the old one stays in use. */
  reopen(): void {
    this.flush();
    this.#destination.reopen();
    this.#reported = false;
  }

  close(): void {
    this.flush();
    this.#destination.close();
  }

  settle(): Promise<void> {
    return this.#destination.settle();
  }
}

let writer: AccessWriter | undefined;
let unloadHooked = false;

/**
 * (Re)configures the access log: compiles the format, opens the
 * destination, then writes out and closes the previous writer's buffer.
 * Called by `setupLogging()`.
 *
 * @throws {SyntaxError} for a format the config validation would refuse,
 *   and whatever opening the file throws; either way the previous writer
 *   stays in use.
 */
export function configureAccess(
  settings: AccessSettings,
  options: AccessOptions,
): void {
  if (!settings.access) {
    closeAccess();
    return;
  }
  // The new writer first: a format or a file that cannot be had leaves the
  // previous one in use (a reload refused keeps the running log).
  const format = compileAccessFormat(settings.access_format ?? "combined", {
    tag: options.tag,
    log: settings.format,
  });
  const spec = settings.access_file || settings.file;
  let next: AccessWriter | undefined = undefined;
  const destination = openDestination(spec, {
    onSyslogError: (error) => next?.failed(error, 1),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  next = new AccessWriter(format, destination, options);
  const previous = writer;
  writer = next;
  previous?.close();
  if (!unloadHooked) {
    unloadHooked = true;
    // Deno.exit() fires "unload", an uncaught exception "error" or
    // "unhandledrejection" (checked on Deno 2.9.6): the last lines are
    // written even on an exit path that did not flush them. Writing early
    // when the error turns out to be handled costs nothing.
    const flush = () => writer?.flush();
    globalThis.addEventListener("unload", flush);
    globalThis.addEventListener("error", flush);
    globalThis.addEventListener("unhandledrejection", flush);
  }
}

/** Writes one access record; nothing at all when `log.access` is off. */
export function writeAccess(record: AccessRecord): void {
  writer?.write(record);
}

/** Whether access lines are written (`log.access`); lets callers skip building them. */
export function accessEnabled(): boolean {
  return writer !== undefined;
}

/**
 * The request headers the current format prints (`$http_*`), lowercase
 * with `-` (`user-agent`): a protocol captures these, and no others, into
 * {@linkcode AccessRecord.headers}. Empty when access lines are off.
 */
export function accessHeaderNames(): readonly string[] {
  return writer?.format.headers ?? NO_HEADERS;
}

/** Writes the buffered lines now. */
export function flushAccess(): void {
  writer?.flush();
}

/**
 * Writes the buffered lines, then reopens the file (logrotate).
 *
 * @throws when the file cannot be opened again (a symlink planted in its
 *   place); the file open until then stays in use.
 */
export function reopenAccess(): void {
  writer?.reopen();
}

/** Resolves once written lines have left (syslog sends), 1 s at most. */
export function settleAccess(): Promise<void> {
  return writer?.settle() ?? Promise.resolve();
}

/** Writes what is buffered and turns the access log off (as a fresh isolate has it). */
export function closeAccess(): void {
  writer?.close();
  writer = undefined;
}

/**
 * What could not be written since this isolate started: the live counters
 * (the same object every time, counted into only when a write fails), so
 * a reader may keep it and read it whenever it likes. `mod/metrics/`
 * exports them as `koan_access_log_lost_lines_total` and
 * `koan_access_log_write_errors_total`.
 */
export function accessStats(): Readonly<AccessStats> {
  return stats;
}
