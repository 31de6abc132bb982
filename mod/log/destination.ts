/**
 * Where access lines go: a file opened for appending (never through a
 * symlink: `safe_file.ts`), stderr, stdout, or syslog. Each takes a buffer
 * of whole lines and writes them without splitting a line: a file in one
 * `write` (O_APPEND: workers writing the same file never interleave
 * within a write), stderr and stdout in pieces of at most PIPE_BUF cut at
 * line ends (a pipe keeps such writes whole), syslog one message per
 * line. `/dev/stdout` and `/dev/stderr` name fd 1 and fd 2, never opened
 * (`stdout.ts`).
 *
 * @module
 */
import {
  FACILITY_LOCAL7,
  SEVERITY_INFO,
  syslogHeader,
  syslogHostname,
  syslogPath,
  SyslogSender,
} from "./syslog.ts";
import { TimeCache } from "./time_cache.ts";
import { writeStderr } from "./stderr.ts";
import { openAppendSafely } from "./safe_file.ts";
import { STDERR_PATH, STDOUT_PATH, writeStdout } from "./stdout.ts";

/** One destination for buffered lines. */
export interface Destination {
  /** What it is, for messages: a path, `stderr`, `syslog:/dev/log`. */
  readonly name: string;
  /** Writes whole lines (each ends in `\n`). @throws on a write error. */
  write(bytes: Uint8Array): void;
  /**
   * Closes and opens again (logrotate).
   * @throws when it cannot be opened; the file open until then stays open.
   */
  reopen(): void;
  /** Releases it once what was written has left. */
  close(): void;
  /** Resolves once everything written has left (syslog sends are asynchronous). */
  settle(): Promise<void>;
}

/** Writes are kept whole up to this size on a pipe (Linux PIPE_BUF). */
const PIPE_BUF = 4096;
const LF = 0x0a;

function writeAll(
  out: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) {
    written += out.writeSync(bytes.subarray(written));
  }
}

class FileDestination implements Destination {
  readonly name: string;
  #file: Deno.FsFile | undefined;

  constructor(path: string) {
    this.name = path;
    this.#file = FileDestination.#open(path);
  }

  static #open(path: string): Deno.FsFile {
    return openAppendSafely(path);
  }

  write(bytes: Uint8Array): void {
    if (!this.#file) this.#file = FileDestination.#open(this.name);
    writeAll(this.#file, bytes);
  }

  reopen(): void {
    // The new file first: one that cannot be opened (a symlink planted in
    // its place) leaves the old one open, and lines keep going there.
    const next = FileDestination.#open(this.name);
    this.#file?.close();
    this.#file = next;
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  settle(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes whole lines through `write` in pieces of at most PIPE_BUF, cut at
 * line ends; a line longer than that goes alone, whole.
 */
function writeLines(
  bytes: Uint8Array,
  write: (piece: Uint8Array) => void,
): void {
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + PIPE_BUF, bytes.length);
    if (end < bytes.length) {
      const cut = bytes.lastIndexOf(LF, end - 1);
      end = cut >= start ? cut + 1 : bytes.indexOf(LF, end) + 1 || bytes.length;
    }
    write(bytes.subarray(start, end));
    start = end;
  }
}

/** fd 2 or fd 1, written as it is (never opened). */
class StdioDestination implements Destination {
  readonly name: string;
  #write: (bytes: Uint8Array) => void;

  constructor(name: "stderr" | "stdout") {
    this.name = name;
    // stderr throws StderrForbiddenError when it is the client's socket
    // (`koan inetd` under plain inetd), stdout StdoutUnavailableError where
    // fd 1 is not the daemon's: the lines are counted as lost.
    this.#write = name === "stderr" ? writeStderr : writeStdout;
  }

  write(bytes: Uint8Array): void {
    writeLines(bytes, this.#write);
  }

  reopen(): void {}

  close(): void {}

  settle(): Promise<void> {
    return Promise.resolve();
  }
}

class SyslogDestination implements Destination {
  readonly name: string;
  #sender: SyslogSender;
  #time: TimeCache;
  #headerAt = Number.NaN;
  #header = new Uint8Array(0);
  #pri: number;

  constructor(
    path: string,
    sender: SyslogSender,
    pri: number,
    clock?: () => number,
  ) {
    this.name = `syslog:${path}`;
    this.#sender = sender;
    this.#pri = pri;
    this.#time = new TimeCache(clock);
  }

  #headerBytes(): Uint8Array {
    this.#time.update();
    const second = Math.floor(this.#time.now / 1000);
    if (second !== this.#headerAt) {
      this.#headerAt = second;
      this.#header = new TextEncoder().encode(
        syslogHeader(
          this.#pri,
          new TextDecoder().decode(this.#time.iso8601),
          syslogHostname(),
          Deno.pid,
        ),
      );
    }
    return this.#header;
  }

  write(bytes: Uint8Array): void {
    const header = this.#headerBytes();
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(LF, start);
      if (end < 0) end = bytes.length;
      const frame = new Uint8Array(header.length + end - start);
      frame.set(header);
      frame.set(bytes.subarray(start, end), header.length);
      this.#sender.send(frame);
      start = end + 1;
    }
  }

  reopen(): void {}

  close(): void {
    this.#sender.close();
  }

  settle(): Promise<void> {
    return this.#sender.settle();
  }
}

/** Options for {@linkcode openDestination}. */
export interface DestinationOptions {
  /** Told of each failed syslog send (which happens after `write` returned). */
  onSyslogError?: (error: Error) => void;
  /** Syslog PRI for each line. @default {local7.info (190)} */
  pri?: number;
  /** The clock for syslog timestamps. @default {Date.now} */
  clock?: () => number;
}

/**
 * Opens the destination a `log.access_file` (or `log.file`) value names:
 * `""` or `"/dev/stderr"` stderr, `"/dev/stdout"` stdout, `"syslog"` or
 * `"syslog:/path"` a syslog socket, else a file opened for appending
 * (created 0640 if missing, never through a symlink).
 *
 * @example Usage
 * ```ts
 * import { openDestination } from "./destination.ts";
 * const stderr = openDestination("");
 * if (stderr.name !== "stderr") throw new Error();
 * ```
 *
 * @throws {Deno.errors.NotFound} and the like when the file cannot be
 *   opened; {@linkcode Error} when it is a symlink or not a regular file.
 */
export function openDestination(
  spec: string,
  options: DestinationOptions = {},
): Destination {
  if (spec === "" || spec === STDERR_PATH) {
    return new StdioDestination("stderr");
  }
  if (spec === STDOUT_PATH) return new StdioDestination("stdout");
  const socket = syslogPath(spec);
  if (socket === undefined) return new FileDestination(spec);
  const report = options.onSyslogError;
  const sender = new SyslogSender(
    socket,
    report ? (error) => report(error) : undefined,
  );
  return new SyslogDestination(
    socket,
    sender,
    options.pri ?? FACILITY_LOCAL7 * 8 + SEVERITY_INFO,
    options.clock,
  );
}
