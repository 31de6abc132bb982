/**
 * Logging on LogTape: leveled lines as text or JSON, every line tagged with
 * the worker id and pid, written to stderr (journald) or a file that SIGUSR1
 * reopens. Lines are batched per event-loop turn so that access logs under
 * load cost one write, not one per line.
 *
 * @module
 */
import {
  configureSync,
  getLogger,
  type Logger,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";

/** Log settings (the `[log]` section). */
export interface LogSettings {
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  file: string;
  access: boolean;
}

/** Who is writing: `master`, `w3` (worker 3), `inetd`, `client`. */
let tag = "master";

const encoder = new TextEncoder();

/** Buffers lines and writes them in one call per turn; reopens its file on demand. */
class LineSink {
  #lines: string[] = [];
  #scheduled = false;
  #file: Deno.FsFile | undefined;
  #path: string;

  constructor(path: string) {
    this.#path = path;
    this.#open();
  }

  #open(): void {
    if (!this.#path) return;
    this.#file = Deno.openSync(this.#path, {
      append: true,
      create: true,
      write: true,
    });
  }

  /** Closes and reopens the file (logrotate's copytruncate-free rotation). */
  reopen(): void {
    this.flush();
    this.#file?.close();
    this.#file = undefined;
    this.#open();
  }

  push(line: string): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const bytes = encoder.encode(this.#lines.join(""));
    this.#lines = [];
    const out = this.#file ?? Deno.stderr;
    try {
      let written = 0;
      while (written < bytes.length) {
        written += out.writeSync(bytes.subarray(written));
      }
    } catch {
      // Any error here means the destination cannot take the lines: a
      // closed stderr (BrokenPipe once the inetd peer or journald is gone,
      // BadResource once closed; checked on Deno 2.9.6), a full disk. The
      // line is lost, the service is not; and logging has nowhere else to
      // report its own failure.
    }
  }

  close(): void {
    this.flush();
    this.#file?.close();
    this.#file = undefined;
  }
}

let sink: LineSink | undefined;
let accessOn = true;

/** Whether access lines are written (`log.access`); lets callers skip building them. */
export function accessEnabled(): boolean {
  return accessOn;
}

function renderMessage(record: LogRecord): string {
  let text = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    text += i % 2 === 0
      ? String(part)
      : typeof part === "string"
      ? part
      : JSON.stringify(part);
  }
  return text;
}

const LEVEL_TEXT: Record<string, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

function textLine(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  const category = record.category.join(".");
  return `${time} ${
    LEVEL_TEXT[record.level]
  } [${tag} ${Deno.pid}] ${category}: ${renderMessage(record)}\n`;
}

function jsonLine(record: LogRecord): string {
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    worker: tag,
    pid: Deno.pid,
    category: record.category.join("."),
    message: renderMessage(record),
    ...record.properties,
  }) + "\n";
}

/** Options for {@linkcode setupLogging}. */
export interface SetupOptions {
  /** Tag on every line: `master`, `w1`, `inetd`. @default {"master"} */
  tag?: string;
}

/**
 * (Re)configures logging. Called at start, on SIGHUP with the new settings,
 * and in every worker.
 */
export function setupLogging(
  settings: LogSettings,
  options: SetupOptions = {},
): void {
  tag = options.tag ?? tag;
  accessOn = settings.access;
  sink?.close();
  sink = new LineSink(settings.file);
  const current = sink;
  const format = settings.format === "json" ? jsonLine : textLine;
  const write: Sink = (record) => current.push(format(record));
  resetSync();
  configureSync({
    sinks: { main: write },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
      { category: ["koan"], sinks: ["main"], lowestLevel: settings.level },
      {
        category: ["koan", "access"],
        sinks: settings.access ? ["main"] : [],
        lowestLevel: "info",
        parentSinks: "override",
      },
    ],
  });
}

/** Reopens the log file (SIGUSR1). */
export function reopenLogs(): void {
  sink?.reopen();
}

/** Writes buffered lines now; call before exiting. */
export function flushLogs(): void {
  sink?.flush();
}

/** A logger under the `koan` category: `log("net").info(...)`. */
export function log(...category: string[]): Logger {
  return getLogger(["koan", ...category]);
}
