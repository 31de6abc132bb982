/**
 * The handler contract: the one seam between protocols and everything that
 * moves bytes. A protocol turns a {@linkcode Transport} into a conversation;
 * models decide *where* and *when* a handler runs (main thread, worker,
 * child process, inetd stdin/stdout) and never look at the bytes.
 *
 * Nothing in `mod/protocols/` may touch `Deno.*`: sockets, files and clocks
 * reach a protocol only through the interfaces below.
 *
 * @module
 */
import type { Config } from "../config/settings.ts";
import type { AccessRecord } from "../log/access_log.ts";
import type { AphorismTable } from "./zen/aphorisms.ts";
import type { FileSource } from "./http/file_source.ts";
import { isOneOf } from "../util/errors.ts";

/** The protocols koan speaks. */
export type ProtocolName = "zen" | "http" | "echo";

/**
 * A bidirectional byte stream. A `Deno.Conn`, a relay between threads and
 * stdin/stdout under inetd are all adapted to this shape by the net layer.
 */
export interface Transport {
  /**
   * Reads into `buffer`; resolves to the byte count, or `null` at end of
   * stream. Rejects once closed, or when the connection fails, with an
   * error that passes {@linkcode isConnectionError}.
   */
  read(buffer: Uint8Array): Promise<number | null>;
  /**
   * Writes every byte of `bytes` (the net layer loops over short writes and
   * enforces `send_timeout`). Rejects when the peer is gone; the error's
   * `name` is `"SendTimeoutError"` when the peer stopped reading too long.
   * Either way the error passes {@linkcode isConnectionError}.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes both directions; a pending `read` rejects or resolves `null`. Idempotent. */
  close(): void;
}

/** Where a connection comes from, as text (`"127.0.0.1:4242"`, `"[::1]:4242"`, `"stdin"`). */
export interface ConnectionInfo {
  /**
   * Remote address: the client's, as a PROXY protocol header from a
   * trusted proxy gave it, else the socket's peer.
   */
  peer: string;
  /** Local address the client reached. */
  local: string;
  /**
   * The socket's peer is in the listener's `trusted_proxies`: forwarded
   * headers (`X-Forwarded-For`, `Forwarded`) may be believed. Absent:
   * not trusted.
   */
  trustedProxy?: boolean;
  /**
   * The listener's `trusted_proxies` (its `CidrSet`), given with
   * `trustedProxy`: HTTP walks `X-Forwarded-For` from the right over the
   * hops in it (nginx's `real_ip_recursive on`). Absent: only the socket's
   * peer is trusted, so the rightmost entry is the client.
   */
  trusted?: { has(address: string): boolean };
}

/** How a connection or request ended, as written in the access log. */
export type Outcome =
  | "closed normally"
  | "sent a partial question then closed"
  | "closed before the answer was sent"
  | "idle timeout"
  | "question too long"
  | "server busy"
  | "draining"
  | "send timeout"
  | "error";

export type { AccessRecord };

/** Everything a handler may learn or do besides moving bytes. */
export interface ConnectionContext {
  info: ConnectionInfo;
  /**
   * Aborted when the daemon starts draining: finish the exchange in flight,
   * then close. An idle connection closes at once.
   */
  draining: AbortSignal;
  /** Records one access-log entry (Zen/echo: once per connection; HTTP: per request). */
  access(record: AccessRecord): void;
  /**
   * Counts `count` exchanges as the session answers them (Zen answers), so
   * that the metrics see a long connection's answers in the second they
   * happen, not when it closes. Where present, the closing record's
   * `requests` is for the access line and counted no more; where absent,
   * the record counts them.
   */
  answered?(count: number): void;
}

/** The access-log outcome for a failed write. */
export function writeFailure(error: unknown): Outcome {
  return (error as Error)?.name === "SendTimeoutError"
    ? "send timeout"
    : "closed before the answer was sent";
}

/** The classes JavaScript itself throws for a mistake in the code. */
const MISTAKES = [TypeError, RangeError, ReferenceError, SyntaxError];
/** An errno name, as Deno and `node:net` put in an OS error's `code`. */
const ERRNO = /^E[A-Z0-9]+$/;

/**
 * Whether `error`, as a {@linkcode Transport}'s `read` or `write` rejected,
 * means the connection is over (the peer reset or closed it, it was closed
 * here, the send timeout fired) rather than a bug. Transports reject with
 * I/O errors: Deno's (`BrokenPipe`, `ConnectionReset`, `BadResource`,
 * `Interrupted`, ...), `node:net`'s (`code` `"ECONNRESET"`, `"EPIPE"`,
 * `"ERR_STREAM_DESTROYED"`), a plain `Error` from a relay, or
 * `SendTimeoutError`. They never use the classes JavaScript throws for a
 * mistake (`TypeError`, `RangeError`, `ReferenceError`, `SyntaxError`), so
 * those are bugs, except with an errno `code`: Deno reports `EINVAL` as a
 * `TypeError` (checked on Deno 2.9.6). A rejection that is not an `Error`
 * at all is a bug too.
 *
 * Only the error path pays for the check: a `catch` on a hot path may call
 * it without slowing the reads and writes that succeed.
 *
 * @example Usage
 * ```ts
 * import { isConnectionError } from "./contract.ts";
 *
 * const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
 * if (!isConnectionError(reset)) throw new Error("a reset is the connection's end");
 * if (isConnectionError(new TypeError("x is not a function"))) {
 *   throw new Error("a TypeError without an errno is a bug");
 * }
 * ```
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && ERRNO.test(code)) return true;
  return !isOneOf(error, MISTAKES);
}

/** Serves one connection to its end. Must never reject: failures end as a closed transport and a log line. */
export type Handler = (
  transport: Transport,
  context: ConnectionContext,
) => Promise<void>;

/** What the daemon shares with protocols, read at each connection so a reload takes effect for new ones. */
export interface ProtocolEnv<S = unknown> {
  /** This protocol's settings, as its {@linkcode Protocol.settings} picked them from the configuration. */
  settings: S;
  /** The Zen table (built-in or from `zen.aphorisms`). */
  aphorisms: AphorismTable;
  /** Live daemon state for `/healthz` and friends. */
  state: DaemonState;
  /** The HTTP document root (`http.docroot`), when one is configured. */
  files?: FileSource;
}

/** Daemon state protocols may report (never change). */
export interface DaemonState {
  /** True once a graceful stop has begun. */
  readonly draining: boolean;
  /**
   * False from SIGTERM on, `drain_delay` included: the readiness probe
   * answers 503 so a balancer takes this process out while it still
   * serves. Absent: ready unless draining.
   */
  readonly ready?: boolean;
  /**
   * Counts one readiness probe answered while not ready; the daemon ends
   * its `drain_delay` wait after `drain_probes` of them.
   */
  probed?(): void;
}

/** A protocol as the registry knows it. */
export interface Protocol<S = unknown> {
  name: ProtocolName;
  /** Sent to a connection refused by `max_connections`/`max_per_source`, before closing. */
  busyReply: Uint8Array;
  /**
   * Picks what this protocol reads from the whole configuration: its own
   * section and the shared limits it needs. Its handlers see nothing else.
   */
  settings(config: Config): S;
  /** Builds the handler for one configuration generation. */
  create(env: ProtocolEnv<S>): Handler;
}
