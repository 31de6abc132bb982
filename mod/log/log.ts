/**
 * Logging on LogTape: leveled lines as text or JSON, every line tagged with
 * the worker id and pid, written to stderr (journald; never once
 * `stderr.ts` forbids it, as `koan inetd` does when stderr is the client's
 * socket), stdout (`/dev/stdout`, `stdout.ts`), a file that SIGUSR2
 * reopens (opened only as `safe_file.ts` allows: never through a symlink;
 * a reopen or a reload that cannot open the new file keeps the old one
 * and says why), or syslog. Lines are batched per event-loop turn. The
 * access
 * log has its own writer (`access_log.ts`), configured, flushed and
 * reopened from here.
 *
 * LogTape is imported with the first line that passes the level, not
 * before: `koan inetd` starts once per connection and most connections
 * log nothing but their access line (importing LogTape costs 20–30 ms,
 * docs/performance.md). Lines logged while it loads are kept in order and
 * written once it has; `flushLogs()` waits for them. Long-running
 * processes call {@linkcode loadLogging} at start, so that a line is
 * written in the turn it is logged.
 *
 * @module
 */
import type {
  Logger as LogTapeLogger,
  LogRecord,
  Sink,
} from "@logtape/logtape";
import {
  configureAccess,
  flushAccess,
  reopenAccess,
  settleAccess,
} from "./access_log.ts";
import { after } from "../util/timer.ts";
import { syslogPath, SyslogSender, syslogSink } from "./syslog.ts";
import { stderrAllowed, writeStderr } from "./stderr.ts";
import { openAppendSafely } from "./safe_file.ts";
import {
  setStdoutOwner,
  STDERR_PATH,
  STDOUT_PATH,
  writeStdout,
} from "./stdout.ts";

export { accessEnabled } from "./access_log.ts";

/** Log settings (the `[log]` section). */
export interface LogSettings {
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  /**
   * A file, `""` or `"/dev/stderr"` for stderr, `"/dev/stdout"` for
   * stdout, `"syslog"` or `"syslog:/path"`.
   */
  file: string;
  access: boolean;
  /** `combined` | `json` | `koan` | a template. @default {"combined"} */
  access_format?: string;
  /** Where access lines go; `""`: where {@linkcode LogSettings.file} goes. @default {""} */
  access_file?: string;
}

/** Who is writing: `master`, `w3` (worker 3), `inetd`, `client`. */
let tag = "master";

const encoder = new TextEncoder();

/** Where leveled lines go. */
interface LevelSink {
  push(line: string, record: LogRecord): void;
  flush(): void;
  /** @throws when the file cannot be opened again; the old one stays in use. */
  reopen(): void;
  close(): void;
  settle(): Promise<void>;
}

/** Buffers lines and writes them in one call per turn; reopens its file on demand. */
class LineSink implements LevelSink {
  #lines: string[] = [];
  #scheduled = false;
  #file: Deno.FsFile | undefined;
  /** A file's path; `""` (stderr) or `/dev/stdout`, which are never opened. */
  readonly path: string;
  #stdio: ((bytes: Uint8Array) => void) | undefined;

  constructor(path: string) {
    this.path = path === STDERR_PATH ? "" : path;
    if (this.path === "") this.#stdio = writeStderr;
    else if (this.path === STDOUT_PATH) this.#stdio = writeStdout;
    else this.#file = openAppendSafely(this.path);
  }

  /** Opens the file anew, then closes the old one (logrotate's copytruncate-free rotation). */
  reopen(): void {
    this.flush();
    if (this.#stdio) return;
    const next = openAppendSafely(this.path);
    this.#file?.close();
    this.#file = next;
  }

  push(line: string, _record?: LogRecord): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      after(0, () => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const bytes = encoder.encode(this.#lines.join(""));
    this.#lines = [];
    const file = this.#file;
    try {
      if (file) {
        let written = 0;
        while (written < bytes.length) {
          written += file.writeSync(bytes.subarray(written));
        }
      } else this.#stdio?.(bytes);
    } catch {
      // Any error here means the destination cannot take the lines: a
      // closed stderr (BrokenPipe once the inetd peer or journald is gone,
      // BadResource once closed; checked on Deno 2.9.6), a stderr that is
      // the client's connection (StderrForbiddenError), a stdout that is
      // not the daemon's (StdoutUnavailableError), a full disk. The line is
      // lost, the service is not; and logging has nowhere else to report
      // its own failure.
    }
  }

  close(): void {
    this.flush();
    this.#file?.close();
    this.#file = undefined;
  }

  settle(): Promise<void> {
    return Promise.resolve();
  }
}

/** One RFC 5424 message per line (facility daemon); sends are asynchronous. */
class SyslogLevelSink implements LevelSink {
  #sink: Sink;
  #sender: SyslogSender;

  constructor(path: string) {
    let reported = false;
    this.#sender = new SyslogSender(path, (error) => {
      if (reported || !stderrAllowed()) return;
      reported = true;
      // The log cannot report its own failure through itself: one line
      // on stderr (journald, or the terminal), then the count goes on.
      // Not when stderr is the client's connection: then nothing is left
      // to tell.
      try {
        writeStderr(encoder.encode(
          `koan: cannot send log lines to syslog ${path}: ${error.message}\n`,
        ));
      } catch {
        // Any error here: stderr is gone too; nothing is left to tell.
      }
    });
    this.#sink = syslogSink(this.#sender, (record) => lineText(record));
  }

  push(_line: string, record: LogRecord): void {
    this.#sink(record);
  }

  flush(): void {}

  reopen(): void {}

  close(): void {
    this.#sender.close();
  }

  settle(): Promise<void> {
    return this.#sender.settle();
  }
}

let sink: LevelSink | undefined;
/** The access log's file (`""` for none, stderr or syslog), for reopen errors. */
let accessPath = "";
/** MSG of a leveled syslog message, in the configured format. */
let lineText: (record: LogRecord) => string = (record) => renderMessage(record);

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

/** A syslog MSG: the syslog header has the time, level and pid already. */
function syslogText(record: LogRecord): string {
  return `[${tag}] ${record.category.join(".")}: ${renderMessage(record)}`;
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

/** The leveled levels koan logs at, lowest first. */
const LEVELS = ["debug", "info", "warning", "error"] as const;
/** A leveled level. */
export type Level = typeof LEVELS[number];

/** A logger under the `koan` category (see {@linkcode log}). */
export interface Logger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

type LogTape = typeof import("@logtape/logtape");

/** LogTape, once imported. */
let logtape: LogTape | undefined;
let loading: Promise<void> | undefined;
/** The configuration {@linkcode setupLogging} made, applied to LogTape when it loads. */
let configuration: { write: Sink; level: Level } | undefined;
/** Lines logged before LogTape was loaded, replayed in order once it is. */
let pending: Array<
  [string[], Level, string, Record<string, unknown> | undefined]
> = [];

function configureLogTape(lt: LogTape): void {
  if (!configuration) return;
  lt.resetSync();
  lt.configureSync({
    sinks: { main: configuration.write },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
      {
        category: ["koan"],
        sinks: ["main"],
        lowestLevel: configuration.level,
      },
    ],
  });
}

function send(
  logger: LogTapeLogger,
  level: Level,
  message: string,
  properties: Record<string, unknown> | undefined,
): void {
  if (level === "warning") logger.warn(message, properties);
  else logger[level](message, properties);
}

/**
 * Imports LogTape now and applies the configuration (if any) to it; lines
 * logged before are written. Long-running processes await it at start.
 */
export function loadLogging(): Promise<void> {
  loading ??= import("@logtape/logtape").then((lt) => {
    logtape = lt;
    configureLogTape(lt);
    const lines = pending;
    pending = [];
    for (const [category, level, message, properties] of lines) {
      send(lt.getLogger(category), level, message, properties);
    }
  });
  return loading;
}

/** Options for {@linkcode setupLogging}. */
export interface SetupOptions {
  /** Tag on every line: `master`, `w1`, `inetd`. @default {"master"} */
  tag?: string;
}

/**
 * (Re)configures logging. Called at start, on SIGHUP with the new settings,
 * and in every worker. The new files are opened before the old ones are
 * closed: when one cannot be opened, it throws and nothing has changed.
 *
 * @throws {Error} naming a log file that cannot be opened (a symlink, not
 *   a regular file, a missing directory); {@linkcode SyntaxError} for an
 *   access format the config validation would refuse.
 */
export function setupLogging(
  settings: LogSettings,
  options: SetupOptions = {},
): void {
  const nextTag = options.tag ?? tag;
  const socket = syslogPath(settings.file);
  let next: LevelSink;
  try {
    next = socket === undefined
      ? new LineSink(settings.file)
      : new SyslogLevelSink(socket);
  } catch (error) {
    throw openError(settings.file, error);
  }
  try {
    configureAccess(settings, {
      tag: nextTag,
      onError: (message) => log("log").error(message),
    });
  } catch (error) {
    next.close();
    throw error instanceof SyntaxError
      ? error
      : openError(settings.access_file || settings.file, error);
  }
  tag = nextTag;
  setStdoutOwner(tag === "master");
  accessPath = settings.access ? settings.access_file || settings.file : "";
  sink?.close();
  sink = next;
  const current = sink;
  const json = settings.format === "json";
  const format = json ? jsonLine : textLine;
  lineText = json ? (record) => format(record).slice(0, -1) : syslogText;
  const write: Sink = socket === undefined
    ? (record) => current.push(format(record), record)
    : (record) => current.push("", record);
  configuration = { write, level: settings.level };
  if (logtape) configureLogTape(logtape);
}

/** `error` from opening log file `path`, with a message that names it. */
function openError(path: string, error: unknown): Error {
  const message = (error as Error)?.message ?? String(error);
  return message.includes(`"${path}"`)
    ? error as Error
    : new Error(`Cannot open "${path}": ${message}`, { cause: error });
}

/**
 * Reopens the log files (SIGUSR2, `koan reopen`), writing out what was
 * buffered first. A file that cannot be opened again (a symlink planted
 * in its place, its directory gone) is not: the one open goes on taking
 * the lines, and one error line per file says why.
 *
 * @returns whether every file was reopened.
 */
export function reopenLogs(): boolean {
  const failed = new Map<string, string>();
  const attempt = (path: string, reopen: () => void) => {
    try {
      reopen();
    } catch (error) {
      // Whatever stopped it, the file open keeps the lines: a reopen
      // never costs the service or the log.
      if (!failed.has(path)) failed.set(path, openError(path, error).message);
    }
  };
  const current = sink;
  if (current) {
    attempt(
      current instanceof LineSink ? current.path : "",
      () => current.reopen(),
    );
  }
  attempt(accessPath, reopenAccess);
  for (const error of failed.values()) {
    log("log").error(
      "log file not reopened, the one already open takes the lines: {error}",
      { error },
    );
  }
  return failed.size === 0;
}

/**
 * Writes buffered lines now (leveled and access); call before exiting.
 * Lines to files and stderr are written when it returns; the promise
 * resolves once syslog messages have left too (1 s at most): await it
 * where the process or thread is about to end.
 */
export function flushLogs(): Promise<void> {
  sink?.flush();
  flushAccess();
  const settle = () =>
    Promise.all([sink?.settle(), settleAccess()]).then(() => {});
  if (loading && !logtape) {
    // Lines wait for LogTape: write them once it is loaded.
    return loading.then(() => {
      sink?.flush();
      return settle();
    });
  }
  return settle();
}

/**
 * A logger under the `koan` category: `log("net").info(...)`. Usable at
 * module load, before {@linkcode setupLogging}; lines below the configured
 * level cost a comparison.
 */
export function log(...category: string[]): Logger {
  const path = ["koan", ...category];
  let logger: LogTapeLogger | undefined;
  const line = (level: Level) =>
  (
    message: string,
    properties?: Record<string, unknown>,
  ): void => {
    if (logtape) {
      send(logger ??= logtape.getLogger(path), level, message, properties);
      return;
    }
    if (
      !configuration ||
      LEVELS.indexOf(level) < LEVELS.indexOf(configuration.level)
    ) return;
    pending.push([path, level, message, properties]);
    void loadLogging();
  };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warning"),
    error: line("error"),
  };
}
