/**
 * Syslog: RFC 5424 messages, one datagram each, to the local syslog
 * socket (`/dev/log`) or another unix datagram socket
 * (`file = "syslog:/path"`).
 *
 * A message is `<PRI>1 TIMESTAMP HOSTNAME koan PID - - MSG`: PRI is
 * facility × 8 + severity (the leveled log as `daemon`, the access log as
 * `local7` with severity `info`, as nginx does), TIMESTAMP RFC 3339, no
 * MSGID, no structured data, MSG the line without its newline.
 *
 * Deno has no unbound datagram socket: the sender binds one to an address
 * in Linux's abstract namespace (no file to clean up), or to a temporary
 * file it removes at once where that is not available. Sends are
 * asynchronous; {@linkcode SyslogSender.settle} waits for them, and
 * `flushLogs()` returns that wait, so that a process can let its last
 * lines leave before it exits.
 *
 * @module
 */
import type { LogLevel, LogRecord, Sink } from "@logtape/logtape";

/** `daemon`: the leveled log's facility. */
export const FACILITY_DAEMON = 3;
/** `local7`: the access log's facility (nginx's default for access_log syslog:). */
export const FACILITY_LOCAL7 = 23;
/** RFC 5424 severity `info`. */
export const SEVERITY_INFO = 6;

const SEVERITY: Record<LogLevel, number> = {
  trace: 7,
  debug: 7,
  info: 6,
  warning: 4,
  error: 3,
  fatal: 2,
};

/** Frames queued beyond this are dropped (and counted) rather than held in memory. */
const MAX_QUEUED = 10_000;

const encoder = new TextEncoder();

/**
 * The socket a `log.file` value names: `/dev/log` for `syslog`, the path
 * for `syslog:/path`, undefined for a file or stderr.
 *
 * @example Usage
 * ```ts
 * import { syslogPath } from "./syslog.ts";
 * if (syslogPath("syslog") !== "/dev/log") throw new Error();
 * if (syslogPath("/var/log/koan.log") !== undefined) throw new Error();
 * ```
 */
export function syslogPath(spec: string): string | undefined {
  if (spec === "syslog") return "/dev/log";
  if (spec.startsWith("syslog:")) return spec.slice("syslog:".length);
  return undefined;
}

let hostname: string | undefined;

/** This host's name for the HOSTNAME field; `-` when it cannot be read. */
export function syslogHostname(): string {
  if (hostname !== undefined) return hostname;
  try {
    hostname = Deno.hostname().replace(/[^\x21-\x7e]/g, "") || "-";
  } catch (error) {
    // Without --allow-sys=hostname (NotCapable, PermissionDenied), or no
    // name to read: RFC 5424 says NILVALUE.
    if (!(error instanceof Error)) throw error;
    hostname = "-";
  }
  return hostname;
}

/**
 * The header of one message up to MSG:
 * `<PRI>1 TIMESTAMP HOSTNAME koan PID - - `.
 *
 * @example Usage
 * ```ts
 * import { syslogHeader } from "./syslog.ts";
 * const head = syslogHeader(190, "2026-12-02T05:19:01+00:00", "web1", 42);
 * if (head !== "<190>1 2026-12-02T05:19:01+00:00 web1 koan 42 - - ") throw new Error(head);
 * ```
 */
export function syslogHeader(
  pri: number,
  timestamp: string,
  host: string,
  pid: number,
): string {
  return `<${pri}>1 ${timestamp} ${host} koan ${pid} - - `;
}

/** What {@linkcode SyslogSender} reports when a send fails. */
export type SyslogErrorHandler = (error: Error, dropped: number) => void;

/** Sends datagrams to one unix socket in order, one at a time. */
export class SyslogSender {
  readonly path: string;
  #socket: Deno.DatagramConn | undefined;
  #queue: (Uint8Array | undefined)[] = [];
  #head = 0;
  #pumping: Promise<void> | undefined;
  #onError: SyslogErrorHandler;
  #closed = false;
  /** Messages not sent (send failed or queue full). */
  dropped = 0;

  /** `onError` is told of every failed send; it must not throw. */
  constructor(path: string, onError: SyslogErrorHandler = () => {}) {
    this.path = path;
    this.#onError = onError;
  }

  /** Queues one message; never throws. */
  send(frame: Uint8Array): void {
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= MAX_QUEUED) {
      this.dropped++;
      this.#onError(
        new Error(`${MAX_QUEUED} messages waiting for ${this.path}`),
        this.dropped,
      );
      return;
    }
    this.#queue.push(frame);
    this.#pumping ??= this.#pump();
  }

  /** Resolves once every queued message is sent, or after `timeoutMs`. */
  async settle(timeoutMs = 1000): Promise<void> {
    if (!this.#pumping) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#pumping,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  /** Sends what is queued, then closes the socket. */
  close(): void {
    this.#closed = true;
    void this.settle().then(() => {
      this.#socket?.close();
      this.#socket = undefined;
    });
  }

  async #pump(): Promise<void> {
    const address: Deno.UnixAddr = { transport: "unixpacket", path: this.path };
    // Yield first, so that `send` has stored this promise before a pump
    // that finishes without waiting (every send failing at once) clears it.
    await Promise.resolve();
    try {
      while (this.#head < this.#queue.length) {
        const frame = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined;
        try {
          this.#socket ??= bindSender();
          await this.#socket.send(frame, address);
        } catch (error) {
          // No syslog daemon (NotFound, ConnectionRefused), a full queue
          // on its side, a socket closed under us: the message is lost,
          // the service is not. Anything thrown is reported, none is fatal.
          this.dropped++;
          this.#onError(
            error instanceof Error ? error : new Error(String(error)),
            this.dropped,
          );
        }
      }
    } finally {
      this.#queue = [];
      this.#head = 0;
      this.#pumping = undefined;
    }
  }
}

let bound = 0;

/** A datagram socket to send from (Deno cannot send from an unbound one). */
function bindSender(): Deno.DatagramConn {
  const name = `koan-${Deno.pid}-${++bound}-${
    Math.random().toString(36).slice(2, 10)
  }`;
  try {
    // Linux's abstract namespace: nothing on disk; needs --allow-net.
    return Deno.listenDatagram({ transport: "unixpacket", path: `\0${name}` });
  } catch (error) {
    if (!(error instanceof Error) || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    // Not Linux: a temporary file, removed once bound (the socket keeps
    // its address, which nobody needs to reach).
    const dir = Deno.makeTempDirSync({ prefix: "koan-syslog-" });
    const path = `${dir}/${name}.sock`;
    const socket = Deno.listenDatagram({ transport: "unixpacket", path });
    Deno.removeSync(dir, { recursive: true });
    return socket;
  }
}

/** Options for {@linkcode syslogSink}. */
export interface SyslogSinkOptions {
  /** The facility. @default {FACILITY_DAEMON} */
  facility?: number;
  /** PROCID. @default {Deno.pid} */
  pid?: number;
}

/**
 * A LogTape sink that sends each record as one RFC 5424 message, its
 * severity from the record's level; `render` gives MSG.
 */
export function syslogSink(
  sender: SyslogSender,
  render: (record: LogRecord) => string,
  options: SyslogSinkOptions = {},
): Sink {
  const facility = options.facility ?? FACILITY_DAEMON;
  const pid = options.pid ?? Deno.pid;
  return (record) => {
    const head = syslogHeader(
      facility * 8 + SEVERITY[record.level],
      new Date(record.timestamp).toISOString(),
      syslogHostname(),
      pid,
    );
    sender.send(encoder.encode(head + render(record)));
  };
}
