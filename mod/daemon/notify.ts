/**
 * The systemd notify protocol (sd_notify(3)) over `$NOTIFY_SOCKET`: one
 * datagram of `KEY=value` lines per message on a unix datagram socket.
 *
 * Deno can send one: `Deno.listenDatagram({ transport: "unixpacket" })`
 * (behind `--unstable-net`) opens an AF_UNIX SOCK_DGRAM socket, bound here
 * to a fresh abstract name (a leading NUL) — no file to create under
 * `ProtectSystem=strict`, nothing to clean up. (An empty path, Linux's
 * autobind, works only under `--allow-all`.) The kernel attaches
 * our pid to each datagram (systemd sets SO_PASSCRED), which is what
 * `NotifyAccess=main` checks. Both path sockets (`/run/systemd/notify`) and
 * abstract ones (`@name`) are supported; sending costs one syscall, cheap
 * enough for the watchdog.
 *
 * @module
 */
import { log } from "../log/log.ts";

const encoder = new TextEncoder();
const logger = log("notify");

/**
 * Turns `$NOTIFY_SOCKET` into a path for Deno: `@name` is an abstract
 * socket (a leading NUL). Returns `undefined` for kinds Deno cannot reach
 * (`vsock:`).
 *
 * @example Usage
 * ```ts
 * import { notifySocketPath } from "./notify.ts";
 * if (notifySocketPath("@sd") !== "\0sd") throw new Error("abstract");
 * if (notifySocketPath("/run/systemd/notify") !== "/run/systemd/notify") throw new Error("path");
 * ```
 */
export function notifySocketPath(value: string): string | undefined {
  if (value.startsWith("@")) return `\0${value.slice(1)}`;
  if (value.startsWith("/")) return value;
  return undefined;
}

/** Sends notify messages to the service manager. */
export class Notifier {
  #path: string;
  #socket: Deno.DatagramConn | undefined;
  #failed = false;
  /** Sends in order, one at a time: Deno refuses a send while one is pending. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /**
   * The notifier for `$NOTIFY_SOCKET`, or `undefined` when the variable is
   * unset (not started by systemd) or names a socket Deno cannot reach (one
   * log line says so).
   */
  static fromEnv(
    env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  ): Notifier | undefined {
    const value = env("NOTIFY_SOCKET");
    if (!value) return undefined;
    const path = notifySocketPath(value);
    if (!path) {
      logger.warn("NOTIFY_SOCKET={value} is not a unix socket; not notifying", {
        value,
      });
      return undefined;
    }
    return new Notifier(path);
  }

  /**
   * Sends one message: `fields` become `KEY=value` lines. Messages go out
   * in call order. Never rejects: a manager that went away must not take
   * the daemon down; the first failure is logged.
   */
  send(fields: Record<string, string | number | bigint>): Promise<void> {
    const text = Object.entries(fields).map(([key, value]) =>
      `${key}=${String(value).replaceAll("\n", " ")}`
    ).join("\n");
    this.#queue = this.#queue.then(() => this.#send(text));
    return this.#queue;
  }

  async #send(text: string): Promise<void> {
    try {
      this.#socket ??= Deno.listenDatagram({
        transport: "unixpacket",
        path: `\0koan-notify-${Deno.pid}-${
          crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16)
        }`,
      });
      await this.#socket.send(encoder.encode(text), {
        transport: "unixpacket",
        path: this.#path,
      });
      this.#failed = false;
    } catch (error) {
      if (!this.#failed) {
        logger.warn("cannot notify the service manager: {error}", {
          error: (error as Error).message,
        });
      }
      this.#failed = true;
    }
  }

  /** Resolves once every message sent so far is out. */
  flush(): Promise<void> {
    return this.#queue;
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.#socket?.close();
    } catch (error) {
      // Nothing is expected: only this closes the socket, and it forgets it
      // (a second close() would throw BadResource). Stopping goes on.
      logger.debug("closing the notify socket failed: {error}", {
        error: (error as Error)?.message ?? String(error),
      });
    }
    this.#socket = undefined;
  }
}

/** Options for {@linkcode watchdogInterval}. */
export interface WatchdogEnv {
  /** `$WATCHDOG_USEC`. */
  usec?: string | undefined;
  /** `$WATCHDOG_PID`. */
  pid?: string | undefined;
}

/**
 * How often to send `WATCHDOG=1`, in ms: half of `WATCHDOG_USEC`, as
 * sd_watchdog_enabled(3) advises; `undefined` when the watchdog is off or
 * meant for another process.
 *
 * @example Usage
 * ```ts
 * import { watchdogInterval } from "./notify.ts";
 * if (watchdogInterval({ usec: "2000000" }, 7) !== 1000) throw new Error("half");
 * if (watchdogInterval({ usec: "2000000", pid: "8" }, 7) !== undefined) throw new Error("other pid");
 * ```
 */
export function watchdogInterval(
  env: WatchdogEnv,
  pid: number,
): number | undefined {
  if (!env.usec || !/^\d+$/.test(env.usec)) return undefined;
  if (env.pid !== undefined && env.pid !== "" && env.pid !== String(pid)) {
    return undefined;
  }
  const usec = Number(env.usec);
  if (usec <= 0) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
